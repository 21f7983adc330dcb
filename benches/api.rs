//! API speed: a whole exchange on loopback, and 200 SSE subscribers on one busy thread.
//!
//! Targets (issue #2): create thread + post message + full local reply (TPS unlimited)
//! under 5 ms median; 200 concurrent subscribers keep up with a busy thread.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentdeck::client::Client;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use std::time::Duration;

mod common;

struct Fixture {
    _local: common::Local,
    client: Client,
    assistant_id: String,
}

async fn fixture() -> Fixture {
    let local = common::local_runtime("bench").await;
    let client = local.client.clone();
    let assistant = client
        .create_assistant(
            &serde_json::from_value(serde_json::json!({"name": "bench", "model": "local"}))
                .unwrap(),
        )
        .await
        .unwrap();
    Fixture {
        _local: local,
        client,
        assistant_id: assistant.id,
    }
}

async fn new_thread(f: &Fixture) -> String {
    common::new_thread(&f.client, &f.assistant_id).await
}

async fn exchange(f: &Fixture) {
    let thread = new_thread(f).await;
    let posted = f
        .client
        .post_message(&thread, &common::user("Where is my order?"))
        .await
        .unwrap();
    let reply = posted.response_message_id.unwrap();
    let events: Vec<_> = f.client.message_stream(&thread, &reply).collect().await;
    assert_eq!(events.last().unwrap().as_ref().unwrap().name(), "done");
}

fn bench_exchange(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(fixture());
    let mut group = c.benchmark_group("api");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("thread_post_full_local_reply", |b| {
        b.to_async(&rt).iter(|| exchange(&f))
    });
    group.finish();
}

fn bench_fanout(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(fixture());
    const SUBSCRIBERS: usize = 200;
    const WORDS: u64 = 1000;
    let mut group = c.benchmark_group("api");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    // Every subscriber receives every event of a 1,000-word reply.
    group.throughput(Throughput::Elements(SUBSCRIBERS as u64 * WORDS));
    group.bench_function("sse_200_subscribers_busy_thread", |b| {
        b.to_async(&rt).iter(|| async {
            let thread = new_thread(&f).await;
            let mut readers = Vec::new();
            let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(SUBSCRIBERS);
            for _ in 0..SUBSCRIBERS {
                let client = f.client.clone();
                let thread = thread.clone();
                let ready = ready_tx.clone();
                readers.push(tokio::spawn(async move {
                    let stream = client.events(&format!("/v2/threads/{thread}/events"), Some(0));
                    futures::pin_mut!(stream);
                    let _ = ready.send(()).await;
                    let mut count = 0u64;
                    while let Some(event) = stream.next().await {
                        let event = event.unwrap();
                        count += 1;
                        if event.name() == "done" {
                            return count;
                        }
                    }
                    count
                }));
            }
            for _ in 0..SUBSCRIBERS {
                ready_rx.recv().await;
            }
            f.client
                .post_message(&thread, &common::user(&format!("/long {WORDS}")))
                .await
                .unwrap();
            let mut counts = Vec::new();
            for reader in readers {
                counts.push(reader.await.unwrap());
            }
            assert!(counts.iter().all(|&n| n == counts[0] && n > WORDS));
        })
    });
    group.finish();
}

criterion_group!(benches, bench_exchange, bench_fanout);
criterion_main!(benches);
