//! Traces in: OTLP/HTTP protobuf batches of 100 spans posted to `POST /v1/traces` of an
//! in-process runtime by `OTLP_BENCH_SENDERS` exporters at once (default 4), each sending
//! its next batch when the last was answered, as an SDK's batch processor does.
//!
//! Targets (issue #28): ingest ≥ 20,000 spans/s on one core; memory flat over many spans.
//! Prints spans/s, spans per CPU-second of the whole process (the senders' encoding and
//! HTTP included), request latency p50/p99 and the process RSS along the way. Size:
//! `OTLP_BENCH_SPANS` (default 200,000); `OTLP_BENCH_CONVERSATIONS` (default 0, a thread
//! per trace) makes the traces turns of that many conversations. Each trace is an agent, a chain, four model calls
//! and four tool calls (10 spans), children first as exporters send them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use std::time::{Duration, Instant};

mod common;

// The allocator the binary runs with: its memory figures are the binary's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn attr(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    attr(key, any_value::Value::StringValue(value.into()))
}

fn span(trace: u64, id: u64, parent: Option<u64>, name: &str, attributes: Vec<KeyValue>) -> Span {
    let start = 1_800_000_000_000_000_000 + id * 1_000_000;
    Span {
        trace_id: [trace.to_be_bytes(), 7u64.to_be_bytes()].concat(),
        span_id: id.to_be_bytes().to_vec(),
        parent_span_id: parent.map(|p| p.to_be_bytes().to_vec()).unwrap_or_default(),
        name: name.into(),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 5_000_000,
        attributes,
        ..Default::default()
    }
}

/// One trace of 10 spans, children first.
fn trace_spans(trace: u64, conversations: u64) -> Vec<Span> {
    let base = trace * 16 + 1;
    let (agent, chain) = (base, base + 1);
    let mut spans = Vec::new();
    for step in 0..4u64 {
        let model = base + 2 + step * 2;
        spans.push(span(trace, model, Some(chain), "chat gpt-4o", vec![
            text("gen_ai.operation.name", "chat"),
            text("gen_ai.request.model", "gpt-4o"),
            attr("gen_ai.usage.input_tokens", any_value::Value::IntValue(120)),
            attr("gen_ai.usage.output_tokens", any_value::Value::IntValue(40)),
            text("gen_ai.output.messages", r#"[{"role":"assistant","parts":[{"type":"text","content":"Looking the order up now."},{"type":"tool_call","id":"c1","name":"lookup_order","arguments":{"id":"ORD-1"}}]}]"#),
        ]));
        spans.push(span(
            trace,
            model + 1,
            Some(chain),
            "execute_tool lookup_order",
            vec![
                text("gen_ai.operation.name", "execute_tool"),
                text("gen_ai.tool.name", "lookup_order"),
                text("gen_ai.tool.call.arguments", r#"{"id":"ORD-1"}"#),
                text("gen_ai.tool.call.result", r#"{"status":"charged twice"}"#),
            ],
        ));
    }
    spans.push(span(trace, chain, Some(agent), "turn", vec![]));
    spans.push(span(trace, agent, None, "invoke_agent triage", {
        let mut attributes = vec![
            text("gen_ai.operation.name", "invoke_agent"),
            text("gen_ai.agent.name", "triage"),
        ];
        if conversations > 0 {
            let id = format!("conv-{}", trace % conversations);
            attributes.push(text("gen_ai.conversation.id", &id));
        }
        attributes
    }));
    spans
}

fn batch(first_trace: u64, conversations: u64) -> Vec<u8> {
    let spans = (first_trace..first_trace + 10)
        .flat_map(|trace| trace_spans(trace, conversations))
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "bench-agents")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

/// Resident memory that is the process's own (heap, stacks), not mapped files: the
/// search index's segments are mapped and count in RSS as the kernel pages them in.
fn anon_mib() -> f64 {
    status_mib("RssAnon:")
}

fn main() {
    let total: u64 = common::setting("OTLP_BENCH_SPANS", 200_000);
    let runtime = common::one_worker_runtime();
    runtime.block_on(async {
        let local = common::local_runtime("otlp-bench").await;
        let url = format!("{}/v1/traces", local.runtime.url());
        let project = local.project_id.clone();
        // Several exporters at once (agents in several processes), each sending its next
        // batch when the last one was answered, as the SDKs' batch processors do.
        let senders: u64 = common::setting("OTLP_BENCH_SENDERS", 4);
        // 0: each trace its own thread (none names a conversation); N: the traces are turns
        // of N conversations (sessions), so the threads stay N however many spans come.
        let conversations: u64 = common::setting("OTLP_BENCH_CONVERSATIONS", 0);
        let http = reqwest::Client::new();
        let batches = total / 100;
        let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        // Span → workspace event: the workspace's own event stream (`/v2/events`, as the
        // TUI follows it) sees each trace's thread appear; measured from the moment its
        // batch was sent.
        let sent_at: std::sync::Arc<Vec<std::sync::OnceLock<Instant>>> =
            std::sync::Arc::new((0..batches).map(|_| std::sync::OnceLock::new()).collect());
        let seen = {
            use futures::StreamExt;
            let sent_at = sent_at.clone();
            let events = local.client.events("/v2/events", None);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut events = std::pin::pin!(events);
                while let Some(event) = events.next().await {
                    let Ok(event) = event else { continue };
                    let agentdeck::model::EventPayload::ThreadCreated(created) = &event.payload
                    else {
                        continue;
                    };
                    let trace = created
                        .thread
                        .metadata
                        .get("trace_id")
                        .and_then(|hex| u64::from_str_radix(hex.get(..16)?, 16).ok());
                    if let Some(sent) = trace.and_then(|t| sent_at.get((t / 10) as usize)?.get()) {
                        seen.push(sent.elapsed());
                        if seen.len() as u64 == batches * 10 {
                            return seen;
                        }
                    }
                }
                seen
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let cpu_before = common::cpu_seconds(&[]);
        let reporter = {
            let done = done.clone();
            tokio::spawn(async move {
                let mut window = Instant::now();
                let mut last = 0;
                loop {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let spans = done.load(std::sync::atomic::Ordering::Relaxed) * 100;
                    println!(
                        "{spans:>9} spans: {:>7.0} spans/s (last window {:>7.0}), RSS {:.1} MiB (anonymous {:.1})",
                        spans as f64 / started.elapsed().as_secs_f64(),
                        (spans - last) as f64 / window.elapsed().as_secs_f64(),
                        rss_mib(),
                        anon_mib()
                    );
                    last = spans;
                    window = Instant::now();
                }
            })
        };
        let mut tasks = Vec::new();
        for _ in 0..senders {
            let (http, url, project, key) = (
                http.clone(),
                url.clone(),
                project.clone(),
                local.runtime.admin_key().to_string(),
            );
            let (next, done, sent_at) = (next.clone(), done.clone(), sent_at.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= batches {
                        return latencies;
                    }
                    let body = batch(i * 10, conversations);
                    let sent = Instant::now();
                    let _ = sent_at[i as usize].set(sent);
                    let response = http
                        .post(&url)
                        .bearer_auth(&key)
                        .header("openai-project", &project)
                        .header("content-type", "application/x-protobuf")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(
                        response.status().as_u16(),
                        200,
                        "{:?}",
                        response.text().await
                    );
                    latencies.push(sent.elapsed());
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.unwrap());
        }
        reporter.abort();
        let elapsed = started.elapsed();
        let cpu = common::cpu_seconds(&[]) - cpu_before;
        if conversations == 0 {
            let mut events = tokio::time::timeout(Duration::from_secs(30), seen)
                .await
                .expect("every trace's thread event within 30 s of the last batch")
                .unwrap();
            events.sort();
            let event_at =
                |q: f64| events[((events.len() as f64 * q) as usize).min(events.len() - 1)];
            println!(
                "span → workspace event ({} traces): p50 {:?}, p99 {:?}",
                events.len(),
                event_at(0.5),
                event_at(0.99)
            );
        } else {
            seen.abort();
        }
        latencies.sort();
        let at =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        let spans = (batches * 100) as f64;
        println!(
            "otlp ingest, {senders} senders, {conversations} conversations: {} spans in {:.2} s = {:.0} spans/s; process CPU {:.2} s = {:.0} spans per CPU-second (senders included); request p50 {:?}, p99 {:?}; RSS {:.1} MiB (anonymous {:.1})",
            batches * 100,
            elapsed.as_secs_f64(),
            spans / elapsed.as_secs_f64(),
            cpu,
            spans / cpu,
            at(0.5),
            at(0.99),
            rss_mib(),
            anon_mib()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
}
