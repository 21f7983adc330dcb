//! Two `agentdeck serve` nodes on one PostgreSQL and one Redis under load (issue #13):
//! STREAMS concurrent replies (default 500) of WORDS words (default 1000) at 100 tokens/s
//! each on the `local` model, half started on each node, across 20 assistants. One client
//! per node follows the project's whole event stream.
//!
//! Reported: each node's CPU (share of a core, and per 1,000 tokens), the latency an event
//! gains by crossing to the other node (its arrival at the other node's client minus its
//! arrival at its own node's client, p50/p99; target p99 < 100 ms), and events lost or
//! duplicated (each client's deltas of each reply against the stored reply; must be 0).
//!
//! `AGENTDECK_BIN=path` runs another build's nodes the same way.
//!
//! Needs `AGENTDECK_BENCH_DATABASE_URL` (a PostgreSQL maintenance database: a fresh one is
//! made in it) and `AGENTDECK_BENCH_REDIS_URL`. With the servers of `.ci/services.sh`:
//!
//! ```sh
//! source .ci/services.sh && start_postgres /tmp/pg 55432 && start_redis /tmp/redis 56379
//! AGENTDECK_BENCH_DATABASE_URL=$AGENTDECK_TEST_DATABASE_URL \
//! AGENTDECK_BENCH_REDIS_URL=$AGENTDECK_TEST_REDIS_URL cargo bench --bench cluster
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use agentdeck::client::{Client, ServerEvent};
use agentdeck::model::EventPayload;
use agentdeck::model::requests::{AssistantCreate, ProjectCreate};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

const ADMIN_KEY: &str = "sk-admin-bench-cluster-0123456789abcdef";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fresh_database(admin: &str) -> String {
    let name = agentdeck::model::new_id("agentdeck_bench_").to_lowercase();
    let create = format!("CREATE DATABASE {name}");
    let admin_url = admin.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client.batch_execute(&create).await.unwrap();
        });
    })
    .join()
    .unwrap();
    let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
    format!("{base}/{name}")
}

struct Node {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn start(database: &str, redis: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(common::agentdeck_bin())
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("AGENTDECK_DATABASE_URL", database)
            .env("AGENTDECK_REDIS_URL", redis)
            .env("AGENTDECK_ADMIN_KEY", ADMIN_KEY)
            .env("AGENTDECK_LOCAL_TPS", "100")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..500 {
            if let Some(info) = agentdeck::runtime::read_serve_info(dir.path()) {
                return Node {
                    child,
                    url: info.url,
                    _dir: dir,
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("a node did not start");
    }

    /// CPU seconds the process has used (user + system).
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / 100.0
    }
}

/// When each event arrived at one client: id → (thread, delta text, arrival).
type Arrivals = Arc<Mutex<HashMap<u64, (String, String, Instant)>>>;

fn follow(client: Client, arrivals: Arrivals, done: Arc<Mutex<usize>>) {
    tokio::spawn(async move {
        let stream = client.events("/v2/events", None);
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            let Ok(event): Result<ServerEvent, _> = event else {
                continue;
            };
            let now = Instant::now();
            match &event.payload {
                EventPayload::MessageDelta(d) => {
                    let (delta, thread) = (d.delta.clone(), d.thread_id.clone());
                    if let Some(id) = event.id {
                        let mut seen = arrivals.lock().unwrap();
                        if seen.contains_key(&id) {
                            // A duplicate: kept apart, so the reply's text shows it.
                            seen.insert(u64::MAX - id, (thread, delta, now));
                        } else {
                            seen.insert(id, (thread, delta, now));
                        }
                    }
                }
                EventPayload::Done(_) => *done.lock().unwrap() += 1,
                _ => {}
            }
        }
    });
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let (Ok(admin_db), Ok(redis)) = (
        std::env::var("AGENTDECK_BENCH_DATABASE_URL"),
        std::env::var("AGENTDECK_BENCH_REDIS_URL"),
    ) else {
        eprintln!(
            "cluster bench: set AGENTDECK_BENCH_DATABASE_URL and AGENTDECK_BENCH_REDIS_URL (see the top of benches/cluster.rs)"
        );
        std::process::exit(2);
    };
    // `cargo bench` passes `--bench`; `cargo test --benches` would run it as a test.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let streams = env_number("STREAMS", 500);
    let words = env_number("WORDS", 1000);
    let database = fresh_database(&admin_db);
    let nodes = [
        Node::start(&database, &redis),
        Node::start(&database, &redis),
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let admin = Client::new(&nodes[0].url, ADMIN_KEY);
        let project = admin
            .create_project(&ProjectCreate {
                name: "load".into(),
                limits: Some(agentdeck::model::Limits {
                    tokens_per_minute: 1_000_000_000_000,
                    concurrent_threads: 100_000,
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        // The admin key, scoped to the project: project keys are rate limited per second.
        let scoped = |url: &str| Client::new(url, ADMIN_KEY).with_project(Some(project.id.clone()));
        let clients = [scoped(&nodes[0].url), scoped(&nodes[1].url)];
        let mut assistants = Vec::new();
        for i in 0..20 {
            let body: AssistantCreate = serde_json::from_value(
                serde_json::json!({"name": format!("agent-{i}"), "model": "local"}),
            )
            .unwrap();
            assistants.push(clients[0].create_assistant(&body).await.unwrap().id);
        }
        let mut threads = Vec::new();
        for i in 0..streams {
            let node = i % 2;
            let thread =
                common::new_thread(&clients[node], &assistants[i % assistants.len()]).await;
            threads.push((node, thread));
        }
        let arrivals: [Arrivals; 2] = Default::default();
        let dones: [Arc<Mutex<usize>>; 2] = Default::default();
        for node in 0..2 {
            follow(
                clients[node].clone(),
                arrivals[node].clone(),
                dones[node].clone(),
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cpu_before = [nodes[0].cpu_seconds(), nodes[1].cpu_seconds()];
        let started = Instant::now();
        let posts = threads.iter().map(|(node, thread)| {
            let client = clients[*node].clone();
            let thread = thread.clone();
            async move {
                client
                    .post_message(&thread, &common::user(&format!("/long {words}")))
                    .await
                    .unwrap()
                    .response_message_id
                    .unwrap()
            }
        });
        let replies = futures::future::join_all(posts).await;
        let deadline = Instant::now() + Duration::from_secs(words as u64 / 50 + 120);
        while (*dones[0].lock().unwrap() < streams || *dones[1].lock().unwrap() < streams)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu = [
            nodes[0].cpu_seconds() - cpu_before[0],
            nodes[1].cpu_seconds() - cpu_before[1],
        ];
        tokio::time::sleep(Duration::from_millis(500)).await;

        // Lost or duplicated: each client's deltas of each reply against the stored reply.
        let mut wrong = [0usize; 2];
        let mut tokens = 0usize;
        for ((node, thread), reply_id) in threads.iter().zip(&replies) {
            let stored = clients[*node].message(thread, reply_id).await.unwrap().text();
            tokens += stored.split_whitespace().count();
            for side in 0..2 {
                let seen = arrivals[side].lock().unwrap();
                let mut mine: Vec<(&u64, &String)> = seen
                    .iter()
                    .filter(|(_, (t, _, _))| t == thread)
                    .map(|(id, (_, delta, _))| (id, delta))
                    .collect();
                mine.sort();
                let text: String = mine.into_iter().map(|(_, d)| d.as_str()).collect();
                if text != stored {
                    wrong[side] += 1;
                }
            }
        }
        // Latency added by crossing nodes, per delta.
        let node_of: HashMap<&str, usize> =
            threads.iter().map(|(n, t)| (t.as_str(), *n)).collect();
        let (a, b) = (arrivals[0].lock().unwrap(), arrivals[1].lock().unwrap());
        let mut crossing = Vec::new();
        for (id, (thread, _, at_a)) in a.iter() {
            let Some((_, _, at_b)) = b.get(id) else {
                continue;
            };
            let (own, other) = if node_of.get(thread.as_str()) == Some(&0) {
                (at_a, at_b)
            } else {
                (at_b, at_a)
            };
            let added = other.saturating_duration_since(*own).as_secs_f64() * 1000.0;
            if added > 300.0 && std::env::var_os("CLUSTER_BENCH_DEBUG").is_some() {
                eprintln!(
                    "slow: id {id} own node {} at {:.3} s, +{added:.0} ms",
                    node_of.get(thread.as_str()).copied().unwrap_or(9),
                    own.saturating_duration_since(started).as_secs_f64()
                );
            }
            crossing.push(added);
        }
        crossing.sort_by(|x, y| x.total_cmp(y));
        println!("cluster: {streams} streams x {words} words at 100 tokens/s over 2 nodes");
        println!("  wall {wall:.1} s, {tokens} tokens stored, deltas seen A {} B {}", a.len(), b.len());
        for node in 0..2 {
            println!(
                "  node {}: CPU {:.1} s = {:.0}% of a core, {:.2} ms per 1,000 tokens of the cluster",
                ["A", "B"][node],
                cpu[node],
                cpu[node] / wall * 100.0,
                cpu[node] * 1000.0 / (tokens as f64 / 1000.0)
            );
        }
        println!(
            "  crossing nodes adds p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} deltas)",
            percentile(&crossing, 0.5),
            percentile(&crossing, 0.99),
            crossing.last().copied().unwrap_or(f64::NAN),
            crossing.len()
        );
        println!(
            "  replies whose streamed deltas differ from the stored text: A {} B {} (of {streams})",
            wrong[0], wrong[1]
        );
    });
}
