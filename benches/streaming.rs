//! Streaming speed. Targets (issue #4): SSE parsing at 300 MB/s or more on realistic
//! provider streams, linear on one huge line; provider decode + engine of one stream at
//! 2,000 tokens/s under 5% of a core.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentdeck::config::Config;
use agentdeck::engine::{Engine, EngineOptions, Scope};
use agentdeck::model::requests::{MessageCreate, ProjectCreate, ThreadCreate};
use agentdeck::model::{Content, Role};
use agentdeck::providers::http::WireFormat;
use agentdeck::providers::openai_chat::OpenAiChat;
use agentdeck::providers::openai_responses::OpenAiResponses;
use agentdeck::sse::SseParser;
use agentdeck::store::Store;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sse")
            .join(name),
    )
    .unwrap()
}

/// About 4 MB of a real provider stream: many small events.
fn realistic_stream(name: &str) -> Vec<u8> {
    let one = fixture(name);
    let mut stream = Vec::with_capacity(4 << 20);
    while stream.len() < 4 << 20 {
        stream.extend_from_slice(&one);
    }
    stream
}

fn parse(bytes: &[u8], chunk: usize) -> usize {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut count = 0;
    for piece in bytes.chunks(chunk) {
        parser.feed(piece, &mut events);
        count += events.len();
        events.clear();
    }
    count
}

fn bench_parser(c: &mut Criterion) {
    let mut group = c.benchmark_group("sse_parse");
    for name in [
        "openai_chat_text.sse",
        "openai_responses_text_reasoning_tool.sse",
        "anthropic_thinking_tool_use.sse",
    ] {
        let stream = realistic_stream(name);
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_with_input(BenchmarkId::new("16KiB_chunks", name), &stream, |b, s| {
            b.iter(|| black_box(parse(s, 16 * 1024)))
        });
    }
    let mut huge = b"data: ".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 8 << 20));
    huge.extend_from_slice(b"\n\n");
    group.throughput(Throughput::Bytes(huge.len() as u64));
    group.sample_size(20);
    group.bench_with_input(BenchmarkId::new("8MB_line", "whole"), &huge, |b, s| {
        b.iter(|| black_box(parse(s, s.len())))
    });
    group.bench_with_input(
        BenchmarkId::new("8MB_line", "1024_chunks"),
        &huge,
        |b, s| b.iter(|| black_box(parse(s, s.len() / 1024))),
    );
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, format) in [
        (
            "openai_chat_text.sse",
            Box::new(OpenAiChat) as Box<dyn WireFormat>,
        ),
        (
            "openai_responses_text_after_tool.sse",
            Box::new(OpenAiResponses),
        ),
    ] {
        let one = fixture(name);
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        parser.feed(&one, &mut events);
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut decoder = format.decoder();
                let mut out = 0;
                for event in &events {
                    if let Ok(decoded) = decoder.event(event) {
                        out += decoded.len();
                    }
                }
                black_box(out)
            })
        });
    }
    group.finish();
}

/// The engine's work per streamed token: one 10,000-word reply of the local model at
/// unlimited speed, through run loop, event log and broadcast.
fn bench_engine(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let engine = Engine::new(
        store,
        Config::default(),
        EngineOptions {
            local_tps: 0.0,
            ..EngineOptions::default()
        },
    )
    .unwrap();
    let project = engine
        .create_project(ProjectCreate {
            name: "bench".into(),
            ..Default::default()
        })
        .unwrap();
    let scope = Scope::Project(project.id);
    let assistant = engine
        .create_assistant(
            &scope,
            serde_json::from_value(serde_json::json!({"name": "bench"})).unwrap(),
        )
        .unwrap();
    const WORDS: u64 = 10_000;
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(WORDS));
    group.bench_function("stream_10000_tokens", |b| {
        b.to_async(&rt).iter(|| async {
            let thread = engine
                .create_thread(
                    &scope,
                    ThreadCreate {
                        assistant_id: assistant.id.clone(),
                        ..Default::default()
                    },
                )
                .unwrap();
            let message = MessageCreate {
                role: Role::User,
                content: Some(Content::Text(format!("/long {WORDS}"))),
                attachments: vec![],
                tool_call_id: None,
            };
            let posted = engine
                .post_message(&scope, &thread.id, message)
                .await
                .unwrap();
            let reply = engine
                .wait_for_message(&posted.response_message_id.unwrap())
                .await
                .unwrap();
            assert!(reply.text().split_whitespace().count() as u64 >= WORDS);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parser, bench_decode, bench_engine);
criterion_main!(benches);
