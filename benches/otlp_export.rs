//! Runs out: what `[telemetry] otlp_endpoint` costs a run. The same routed runs (alpha
//! hands each question to beta: two replies, three model calls, one routing call, so six
//! spans) on an in-process runtime, first without export, then exporting to an OTLP/HTTP
//! sink in a process of its own (Python's http.server answering 200, so the collector's
//! work is not counted). Prints the process CPU per run both ways and the difference.
//!
//! Target (issue #28): export costs a run ≤ 2 % CPU. Size: `OTLP_EXPORT_RUNS` (default
//! 2,000) after 100 to warm up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use agentdeck::config::Config;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Answers every POST with 200 and an empty protobuf body; prints its port first.
const SINK: &str = r#"
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The SDK's batch thread and the HTTP client's runtime thread.
const EXPORT_THREADS: &[&str] = &["OpenTelemetry", "reqwest-intern"];

/// CPU seconds per run of `runs` routed runs on a runtime with `config`, and of that
/// the export threads' share.
async fn cpu_per_run(config: Config, runs: usize) -> (f64, f64) {
    let local = common::local_runtime_with("export-bench", config).await;
    let client = &local.client;
    let beta = client
        .create_assistant(
            &serde_json::from_value(serde_json::json!({
                "name": "beta", "instructions": "You are beta.", "model": "local"
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let alpha = client
        .create_assistant(
            &serde_json::from_value(serde_json::json!({
                "name": "alpha", "instructions": "You are alpha.", "model": "local",
                "routes_to": [beta.id]
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let run = async |i: usize| {
        let thread = common::new_thread(client, &alpha.id).await;
        let reply = common::ask(client, &thread, &format!("/route beta check order {i}")).await;
        assert_eq!(reply.tool_calls.len(), 1);
    };
    for i in 0..100 {
        run(i).await;
    }
    let (cpu, export_cpu) = (
        common::cpu_seconds(&[]),
        common::cpu_seconds(EXPORT_THREADS),
    );
    let started = Instant::now();
    for i in 0..runs {
        run(i).await;
    }
    let spent = common::cpu_seconds(&[]) - cpu;
    let exporting = common::cpu_seconds(EXPORT_THREADS) - export_cpu;
    println!(
        "  {runs} runs in {:.2} s, {:.3} ms CPU per run",
        started.elapsed().as_secs_f64(),
        spent * 1000.0 / runs as f64
    );
    local.runtime.stop().await;
    (spent / runs as f64, exporting / runs as f64)
}

fn main() {
    let runs: usize = common::setting("OTLP_EXPORT_RUNS", 2000);
    let mut sink = Command::new("python3")
        .args(["-c", SINK])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 for the OTLP sink");
    let mut port = String::new();
    std::io::BufReader::new(sink.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{}", port.trim());
    let runtime = common::one_worker_runtime();
    runtime.block_on(async {
        let exporting = Config::parse(&format!("[telemetry]\notlp_endpoint = \"{endpoint}\"\n"))
            .unwrap();
        // Alternated, three times each: the medians, so drift (the page cache, the
        // machine) falls on both alike.
        let (mut without, mut with, mut threads) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..3 {
            println!("round {}: without export", round + 1);
            without.push(cpu_per_run(Config::default(), runs).await.0);
            println!("round {}: exporting to {endpoint} (http/protobuf)", round + 1);
            let (spent, exporting) = cpu_per_run(exporting.clone(), runs).await;
            with.push(spent);
            threads.push(exporting / spent);
        }
        let median = |list: &mut Vec<f64>| {
            list.sort_by(f64::total_cmp);
            list[list.len() / 2]
        };
        let (without, with) = (median(&mut without), median(&mut with));
        println!(
            "otlp export: {:.3} ms CPU per run without, {:.3} ms with (medians of 3): {:+.1} %; the export threads {:.2} % of the exporting runs' CPU (6 spans a run)",
            without * 1000.0,
            with * 1000.0,
            (with - without) / without * 100.0,
            median(&mut threads) * 100.0
        );
    });
    let _ = sink.kill();
    let _ = sink.wait();
}
