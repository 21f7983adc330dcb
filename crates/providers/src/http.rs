//! The transport every network provider shares: one POST, an SSE body decoded by the
//! provider's [`Decoder`], and the retry rules of SPEC §5.
//!
//! Nothing is passed on until the first delta (text, reasoning or a tool call): until then
//! a failed attempt can be retried without a client ever seeing it. After it, an error
//! ends the stream and the engine keeps what was received (the reply is `incomplete`).

use super::{ModelEvent, ModelRequest, ModelStream, Provider, ProviderError};
use agentdeck_model::sse::{SseEvent, SseParser};
use agentdeck_model::sync;
use futures::StreamExt;
use rand::Rng;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Turns one provider's SSE events into model events.
pub trait Decoder: Send {
    /// One SSE event; `Err` when the stream reports a failure.
    fn event(&mut self, event: &SseEvent) -> Result<Vec<ModelEvent>, ProviderError>;
    /// The body ended: `Err` if it ended before the response was complete.
    fn end(&mut self) -> Result<Vec<ModelEvent>, ProviderError>;
}

/// A provider's request format and its decoder.
pub trait WireFormat: Send + Sync + 'static {
    /// The path under the base URL and the JSON body for a request.
    fn request(&self, request: &ModelRequest) -> (&'static str, Value);
    /// Authentication and other headers, given the API key (if any).
    fn headers(&self, api_key: Option<&str>) -> Vec<(&'static str, String)>;
    fn decoder(&self) -> Box<dyn Decoder>;
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// First backoff; doubled each attempt, ±25% jitter.
    pub base_delay: Duration,
    /// No wait is longer, whatever the provider asks.
    pub max_delay: Duration,
    pub connect_timeout: Duration,
    /// A stream silent for this long is given up.
    pub idle_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32, asked: Option<Duration>) -> Duration {
        if let Some(asked) = asked {
            return asked.min(self.max_delay);
        }
        let exponential = self
            .base_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let jitter = rand::rng().random_range(0.75..1.25);
        exponential.mul_f64(jitter).min(self.max_delay)
    }
}

/// The last rate-limit headers each provider sent (`x-ratelimit-*`,
/// `anthropic-ratelimit-*`), for the limits view.
#[derive(Default)]
pub struct RateLimitBook {
    seen: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

impl RateLimitBook {
    fn record(&self, provider: &str, headers: &reqwest::header::HeaderMap) {
        let found: BTreeMap<String, String> = headers
            .iter()
            .filter(|(name, _)| {
                let name = name.as_str();
                name.starts_with("x-ratelimit-") || name.starts_with("anthropic-ratelimit-")
            })
            .filter_map(|(name, value)| {
                Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
            })
            .collect();
        if !found.is_empty() {
            let mut seen = sync::lock(&self.seen);
            seen.insert(provider.to_string(), found);
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        sync::lock(&self.seen).clone()
    }
}

pub struct HttpProvider {
    name: String,
    base_url: String,
    /// The environment variable holding the key; read for every request, never stored.
    api_key_env: Option<String>,
    /// The environment variable whose value goes out as `OpenAI-Project`.
    project_header_env: Option<String>,
    format: Arc<dyn WireFormat>,
    policy: RetryPolicy,
    client: reqwest::Client,
    rate_limits: Arc<RateLimitBook>,
}

impl HttpProvider {
    pub fn new(
        name: &str,
        base_url: &str,
        api_key_env: Option<String>,
        project_header_env: Option<String>,
        format: Arc<dyn WireFormat>,
        policy: RetryPolicy,
        rate_limits: Arc<RateLimitBook>,
    ) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        HttpProvider {
            name: name.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key_env,
            project_header_env,
            format,
            policy,
            client,
            rate_limits,
        }
    }
}

/// `retry-after-ms` (milliseconds) or `Retry-After` (seconds).
fn asked_delay(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    text("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// A URL as it may be shown: without a user name and password.
fn without_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// The error of a non-2xx answer, from an OpenAI- or Anthropic-style error body.
fn error_from_body(status: u16, body: &[u8]) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
    let code = error
        .and_then(|e| {
            e.get("code")
                .and_then(Value::as_str)
                .or_else(|| e.get("type").and_then(Value::as_str))
        })
        .map(str::to_string);
    let mut err = ProviderError::from_status(status, format!("HTTP {status}: {message}"));
    if let Some(code) = code {
        err.code = code;
    }
    if err.code == "insufficient_quota" {
        err.retryable = false;
    }
    err
}

fn is_delta(event: &ModelEvent) -> bool {
    matches!(
        event,
        ModelEvent::TextDelta(_)
            | ModelEvent::ReasoningDelta(_)
            | ModelEvent::ToolCallStart { .. }
            | ModelEvent::ToolCallArguments { .. }
    )
}

impl Provider for HttpProvider {
    fn stream(&self, request: ModelRequest) -> ModelStream {
        let (path, body) = self.format.request(&request);
        let url = format!("{}{path}", self.base_url);
        let api_key = self
            .api_key_env
            .as_ref()
            .map(|name| (name.clone(), std::env::var(name).ok()));
        let project = self
            .project_header_env
            .as_ref()
            .and_then(|name| std::env::var(name).ok());
        let format = self.format.clone();
        let policy = self.policy;
        let client = self.client.clone();
        let rate_limits = self.rate_limits.clone();
        let name = self.name.clone();
        Box::pin(async_stream::stream! {
            let key = match api_key {
                Some((variable, None)) => {
                    yield Err(ProviderError { retryable: false, ..ProviderError::coded("missing_api_key", format!("Provider '{name}' needs its API key in the environment variable {variable}, which is not set.")) });
                    return;
                }
                Some((_, Some(key))) => Some(key),
                None => None,
            };
            let mut attempt = 0u32;
            'attempts: loop {
                attempt += 1;
                let last_attempt = attempt >= policy.attempts;
                let mut http = client.post(&url).json(&body).header("Accept", "text/event-stream");
                for (header, value) in format.headers(key.as_deref()) {
                    http = http.header(header, value);
                }
                if let Some(project) = &project {
                    http = http.header("OpenAI-Project", project);
                }
                let response = match http.send().await {
                    Ok(response) => response,
                    Err(err) => {
                        let err = ProviderError { retryable: true, ..ProviderError::coded("connection_error", format!("cannot reach {url}: {err}")) };
                        if !last_attempt {
                            tokio::time::sleep(policy.delay(attempt, None)).await;
                            continue 'attempts;
                        }
                        yield Err(err);
                        return;
                    }
                };
                rate_limits.record(&name, response.headers());
                let status = response.status().as_u16();
                if !response.status().is_success() {
                    let asked = asked_delay(response.headers());
                    let bytes = response.bytes().await.unwrap_or_default();
                    let mut err = error_from_body(status, &bytes);
                    if status == 404 || status == 405 {
                        // Most often a base_url without its /v1, or a model it does not
                        // serve: say where the request went.
                        err.message = format!(
                            "{} (POST {} answered {status}: check the provider's base_url in the config, and that it serves model {:?})",
                            err.message,
                            without_credentials(&url),
                            body.get("model").and_then(Value::as_str).unwrap_or("?")
                        );
                    }
                    err.retry_after = asked;
                    if err.retryable && !last_attempt {
                        tokio::time::sleep(policy.delay(attempt, asked)).await;
                        continue 'attempts;
                    }
                    yield Err(err);
                    return;
                }
                let mut decoder = format.decoder();
                let mut parser = SseParser::new();
                let mut parsed = Vec::new();
                let mut held: Vec<ModelEvent> = Vec::new();
                let mut delivered = false;
                let mut body = Box::pin(response.bytes_stream());
                let mut idle = IdleWatch::new(policy.idle_timeout);
                loop {
                    let (events, failure) = match idle.next(&mut body).await {
                        Err(Silent) => (Vec::new(), Some(ProviderError {
                            retryable: true,
                            ..ProviderError::coded("idle_timeout", format!("the stream from {name} was silent for {} s", policy.idle_timeout.as_secs_f64()))
                        })),
                        Ok(Some(Err(err))) => (Vec::new(), Some(ProviderError {
                            retryable: true,
                            ..ProviderError::coded("stream_cut", format!("the stream from {name} broke: {err}"))
                        })),
                        Ok(None) => {
                            parser.finish();
                            match decoder.end() {
                                Ok(mut events) => {
                                    events.push(ModelEvent::Finished);
                                    (events, None)
                                }
                                Err(err) => (Vec::new(), Some(err)),
                            }
                        }
                        Ok(Some(Ok(bytes))) => {
                            parser.feed(&bytes, &mut parsed);
                            let mut events = Vec::new();
                            let mut failure = None;
                            for event in parsed.drain(..) {
                                match decoder.event(&event) {
                                    Ok(decoded) => events.extend(decoded),
                                    Err(err) => {
                                        failure = Some(err);
                                        break;
                                    }
                                }
                            }
                            (events, failure)
                        }
                    };
                    let finished = events.last() == Some(&ModelEvent::Finished);
                    for event in events {
                        delivered |= is_delta(&event);
                        held.push(event);
                    }
                    if delivered || finished {
                        for event in held.drain(..) {
                            yield Ok(event);
                        }
                    }
                    if finished {
                        return;
                    }
                    if let Some(err) = failure {
                        if !delivered && err.retryable && !last_attempt {
                            tracing::warn!("{name}: attempt {attempt} failed before any output ({}); retrying", err.message);
                            tokio::time::sleep(policy.delay(attempt, err.retry_after)).await;
                            continue 'attempts;
                        }
                        yield Err(err);
                        return;
                    }
                }
            }
        })
    }
}

/// Helpers the decoders share.
pub(crate) fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

pub(crate) fn u64_at(value: &Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(Value::as_u64)
}

/// The JSON of an SSE event, or a clear error for malformed data.
pub(crate) fn json_of(event: &SseEvent) -> Result<Value, ProviderError> {
    serde_json::from_str(&event.data).map_err(|err| ProviderError {
        retryable: true,
        ..ProviderError::coded(
            "malformed_event",
            format!(
                "the provider sent an event that is not valid JSON ({err}): {}",
                event.data.chars().take(120).collect::<String>()
            ),
        )
    })
}

/// The stream said nothing for the whole idle timeout.
struct Silent;

/// The idle timeout of one response body. One timer serves the whole stream and is moved
/// only when it fires before the silence is long enough: a timer registered per chunk
/// would cost the runtime a wake-up per chunk.
struct IdleWatch {
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    last_chunk: tokio::time::Instant,
    idle: Duration,
}

impl IdleWatch {
    fn new(idle: Duration) -> Self {
        let now = tokio::time::Instant::now();
        IdleWatch {
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
            last_chunk: now,
            idle,
        }
    }

    /// The body's next item, or `Silent` once nothing came for the idle timeout.
    async fn next<S: futures::Stream + Unpin>(
        &mut self,
        body: &mut S,
    ) -> Result<Option<S::Item>, Silent> {
        loop {
            tokio::select! {
                biased;
                item = body.next() => {
                    self.last_chunk = tokio::time::Instant::now();
                    return Ok(item);
                }
                _ = self.timer.as_mut() => {
                    let deadline = self.last_chunk + self.idle;
                    if tokio::time::Instant::now() >= deadline {
                        return Err(Silent);
                    }
                    self.timer.as_mut().reset(deadline);
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Decodes a fixture with every split into two chunks, and whole; all must agree.
    pub fn decode_all_splits(
        bytes: &[u8],
        make: impl Fn() -> Box<dyn Decoder>,
    ) -> (Vec<ModelEvent>, Option<ProviderError>) {
        let whole = decode(&[bytes], &make);
        for split in (1..bytes.len()).step_by(7) {
            let (a, b) = bytes.split_at(split);
            assert_eq!(decode(&[a, b], &make), whole, "split at {split}");
        }
        whole
    }

    pub fn decode(
        chunks: &[&[u8]],
        make: &impl Fn() -> Box<dyn Decoder>,
    ) -> (Vec<ModelEvent>, Option<ProviderError>) {
        let mut decoder = make();
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut events);
            for event in events.drain(..) {
                match decoder.event(&event) {
                    Ok(decoded) => out.extend(decoded),
                    Err(err) => return (merge(out), Some(err)),
                }
            }
        }
        match decoder.end() {
            Ok(decoded) => out.extend(decoded),
            Err(err) => return (merge(out), Some(err)),
        }
        (merge(out), None)
    }

    /// Joins consecutive deltas of one kind, so the split points do not matter.
    fn merge(events: Vec<ModelEvent>) -> Vec<ModelEvent> {
        let mut merged: Vec<ModelEvent> = Vec::new();
        for event in events {
            match (merged.last_mut(), event) {
                (Some(ModelEvent::TextDelta(a)), ModelEvent::TextDelta(b)) => a.push_str(&b),
                (Some(ModelEvent::ReasoningDelta(a)), ModelEvent::ReasoningDelta(b)) => {
                    a.push_str(&b)
                }
                (
                    Some(ModelEvent::ToolCallArguments { index: i, delta: a }),
                    ModelEvent::ToolCallArguments { index: j, delta: b },
                ) if *i == j => a.push_str(&b),
                (_, event) => merged.push(event),
            }
        }
        merged
    }

    pub fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/sse")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|err| panic!("fixture {}: {err}", path.display()))
    }
}

#[cfg(test)]
mod idle_tests {
    use super::*;

    #[tokio::test]
    async fn the_idle_timeout_counts_from_the_last_chunk_not_from_the_start() {
        let idle = Duration::from_millis(150);
        let chunks = futures::stream::unfold(0, |n| async move {
            (n < 8).then_some(())?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some((n, n + 1))
        })
        .chain(futures::stream::pending());
        let mut body = Box::pin(chunks);
        let mut watch = IdleWatch::new(idle);
        let started = std::time::Instant::now();
        for n in 0..8 {
            assert!(matches!(watch.next(&mut body).await, Ok(Some(got)) if got == n));
        }
        // 400 ms of chunks, more than the idle timeout in all, and none was cut.
        assert!(started.elapsed() > idle * 2);
        let silent_from = std::time::Instant::now();
        assert!(watch.next(&mut body).await.is_err(), "silence ends it");
        let waited = silent_from.elapsed();
        assert!(waited >= idle - Duration::from_millis(60), "{waited:?}");
    }
}
