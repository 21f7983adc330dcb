//! The gateway's cost on a streamed call: the same Chat Completions streams read straight
//! from a provider and read through `serve`'s `/v1/chat/completions`, in one process. The
//! provider is an in-process server that streams `GATEWAY_BENCH_CHUNKS` chunks (default
//! 500) at once, so the difference is the gateway's own work: its HTTP, the stream's
//! decoding, the reply the workspace sees, the events.
//!
//! Prints CPU per chunk both ways and the difference, time to the first byte both ways
//! (p50/p99 over `GATEWAY_BENCH_CALLS` calls, default 200, one at a time), and then
//! `GATEWAY_BENCH_CONCURRENT` calls at once (default 200): wall time and CPU. Between the
//! two, `GATEWAY_BENCH_WATCHED` calls (default 20) measure how long after the client read
//! a delta the workspace's event stream carried it.
//! Targets (issue #29): ≤ 50 µs of CPU per streamed chunk at p50, first byte within 2 ms
//! of the provider's, 200 concurrent streamed calls on one core, the workspace sees each
//! delta within 50 ms p99.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use agentdeck::config::Config;
use axum::body::{Body, Bytes};
use futures::StreamExt;
use std::time::{Duration, Instant};

mod common;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A provider that streams `chunks` content deltas, a usage chunk and `[DONE]`.
async fn fake_provider(chunks: usize) -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || async move {
            let mut body = String::with_capacity(chunks * 160);
            body.push_str("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n");
            for i in 0..chunks {
                body.push_str(&format!(
                    "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word{i} \"}}}}]}}\n\n"
                ));
            }
            body.push_str("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
            body.push_str(&format!("data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{{\"prompt_tokens\":20,\"completion_tokens\":{chunks},\"total_tokens\":{}}}}}\n\n", chunks + 20));
            body.push_str("data: [DONE]\n\n");
            // One network write per chunk, as a provider sends them.
            let pieces: Vec<Result<Bytes, std::io::Error>> = body
                .split_inclusive("\n\n")
                .map(|piece| Ok(Bytes::from(piece.to_string())))
                .collect();
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(futures::stream::iter(pieces)))
                .unwrap()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// One streamed call read to its end: the time to its first byte.
async fn call(http: &reqwest::Client, url: &str, key: Option<&str>) -> Duration {
    let body = serde_json::json!({"model": "gpt-4o", "stream": true,
        "messages": [{"role": "user", "content": "Stream a long answer"}]});
    let sent = Instant::now();
    let mut request = http.post(url).json(&body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut stream = response.bytes_stream();
    let mut first = None;
    let mut bytes = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        first.get_or_insert_with(|| sent.elapsed());
        bytes += chunk.len();
    }
    assert!(bytes > 0);
    first.unwrap()
}

fn quantile(list: &mut [Duration], q: f64) -> Duration {
    list.sort();
    list[((list.len() as f64 * q) as usize).min(list.len() - 1)]
}

fn main() {
    let chunks = common::setting("GATEWAY_BENCH_CHUNKS", 500);
    let calls = common::setting("GATEWAY_BENCH_CALLS", 200);
    let concurrent = common::setting("GATEWAY_BENCH_CONCURRENT", 200);
    let runtime = common::one_worker_runtime();
    runtime.block_on(async {
        let provider = fake_provider(chunks).await;
        let config = Config::parse(&format!(
            "[providers.fake]\nkind = \"openai-chat\"\nbase_url = \"{provider}/v1\"\nmodels = [\"gpt-*\"]\n"
        ))
        .unwrap();
        let local = common::local_runtime_with("gateway-bench", config).await;
        let key = agentdeck::client::Client::new(&local.runtime.url(), local.runtime.admin_key())
            .create_key(&local.project_id, Some("bench".into()))
            .await
            .unwrap()
            .key;
        let http = reqwest::Client::new();
        let direct = format!("{provider}/v1/chat/completions");
        let gateway = format!("{}/v1/chat/completions", local.runtime.url());

        // Warm both paths.
        for _ in 0..10 {
            call(&http, &direct, None).await;
            call(&http, &gateway, Some(&key)).await;
        }
        let measure = async |url: &str, key: Option<&str>| {
            let cpu = common::cpu_seconds(&[]);
            let mut firsts = Vec::with_capacity(calls);
            for _ in 0..calls {
                firsts.push(call(&http, url, key).await);
            }
            let spent = common::cpu_seconds(&[]) - cpu;
            (spent, firsts)
        };
        let (direct_cpu, mut direct_first) = measure(&direct, None).await;
        let (gateway_cpu, mut gateway_first) = measure(&gateway, Some(&key)).await;
        let total_chunks = (calls * (chunks + 4)) as f64;
        let per_chunk = |cpu: f64| cpu / total_chunks * 1e6;
        println!(
            "one at a time, {calls} calls of {chunks} chunks: CPU per chunk {:.1} µs direct, {:.1} µs through the gateway: the gateway's own {:.1} µs",
            per_chunk(direct_cpu),
            per_chunk(gateway_cpu),
            per_chunk(gateway_cpu - direct_cpu)
        );
        println!(
            "first byte: direct p50 {:?} p99 {:?}; through the gateway p50 {:?} p99 {:?}",
            quantile(&mut direct_first, 0.5),
            quantile(&mut direct_first, 0.99),
            quantile(&mut gateway_first, 0.5),
            quantile(&mut gateway_first, 0.99)
        );

        // The workspace's view: each delta as `/v2/events` (what the TUI follows) carries
        // it, against the moment the client read the same words from the gateway. Calls
        // one at a time, each once the workspace has seen its last word.
        let client_saw: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<usize, Instant>>> =
            Default::default();
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
        let watcher = {
            let events = local.client.events("/v2/events", None);
            tokio::spawn(async move {
                let mut events = std::pin::pin!(events);
                while let Some(event) = events.next().await {
                    let Ok(event) = event else { continue };
                    if let agentdeck::model::EventPayload::MessageDelta(delta) = &event.payload {
                        let at = Instant::now();
                        for word in delta.delta.split_whitespace() {
                            if let Some(k) = word.strip_prefix("word").and_then(|k| k.parse().ok()) {
                                let _ = seen_tx.send((k, at));
                            }
                        }
                    }
                }
            })
        };
        let mut lags = Vec::new();
        for _ in 0..common::setting("GATEWAY_BENCH_WATCHED", 20) {
            client_saw.lock().unwrap().clear();
            let body = serde_json::json!({"model": "gpt-4o", "stream": true,
                "messages": [{"role": "user", "content": "Stream a long answer"}]});
            let response = http.post(&gateway).bearer_auth(&key).json(&body).send().await.unwrap();
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let at = Instant::now();
                let text = String::from_utf8_lossy(&chunk.unwrap()).to_string();
                let mut saw = client_saw.lock().unwrap();
                for piece in text.split("\"content\":\"word").skip(1) {
                    if let Some(k) = piece.split(' ').next().and_then(|k| k.parse().ok()) {
                        saw.entry(k).or_insert(at);
                    }
                }
            }
            loop {
                let (k, at) = tokio::time::timeout(Duration::from_secs(10), seen_rx.recv())
                    .await
                    .expect("the workspace saw the call's deltas within 10 s")
                    .unwrap();
                if let Some(read) = client_saw.lock().unwrap().get(&k) {
                    lags.push(at.saturating_duration_since(*read));
                }
                if k == chunks - 1 {
                    break;
                }
            }
        }
        watcher.abort();
        println!(
            "workspace delta after the client's read ({} deltas): p50 {:?}, p99 {:?}",
            lags.len(),
            quantile(&mut lags, 0.5),
            quantile(&mut lags, 0.99)
        );

        let cpu = common::cpu_seconds(&[]);
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrent)
            .map(|_| {
                let (http, gateway, key) = (http.clone(), gateway.clone(), key.clone());
                tokio::spawn(async move { call(&http, &gateway, Some(&key)).await })
            })
            .collect();
        let mut firsts = Vec::new();
        for task in tasks {
            firsts.push(task.await.unwrap());
        }
        println!(
            "{concurrent} at once through the gateway: all done in {:?}, {:.2} s CPU (the provider and the clients included), first byte p50 {:?} p99 {:?}",
            started.elapsed(),
            common::cpu_seconds(&[]) - cpu,
            quantile(&mut firsts, 0.5),
            quantile(&mut firsts, 0.99)
        );
    });
}
