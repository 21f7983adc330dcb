//! Store speed. Targets (issue #2): list the newest 50 of 10,000 threads with a status
//! filter in under 2 ms; open a data dir with 10,000 threads and 1,000,000 messages in
//! under 1 s.
//!
//! `STORE_MEMORY_MESSAGES=N` also measures what the store holds in memory per stored
//! message (issues #28 and #31: memory flat over many spans, RSS after many replies):
//! N messages into 100 threads, flushed every 100 as the bus's rounds are, RSS once
//! sled's page cache is full and at the end.
#![allow(clippy::print_stderr, clippy::unwrap_used, clippy::expect_used)]

use agentdeck::model::ThreadQuery;
use agentdeck::model::{Content, Message, MessageStatus, Role, Thread, ThreadStatus, Usage};
use agentdeck::store::Store;
use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::time::Duration;

mod common;

// The allocator the binary runs with: its memory figures are the binary's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const THREADS: usize = 10_000;

fn thread(i: usize) -> Thread {
    let status = match i % 10 {
        0 => ThreadStatus::RequiresAction,
        1..=2 => ThreadStatus::Closed,
        3 => ThreadStatus::Running,
        _ => ThreadStatus::Active,
    };
    Thread {
        id: format!("thread_{i:024}"),
        object: "thread".into(),
        project_id: format!("proj_{:024}", i % 3),
        assistant_id: format!("asst_{:024}", i % 7),
        created_at: 1_795_000_000 + i as u64,
        updated_at: 1_795_000_000 + i as u64,
        status,
        metadata: BTreeMap::from([
            (
                "priority".to_string(),
                if i.is_multiple_of(4) { "high" } else { "low" }.to_string(),
            ),
            ("case_id".to_string(), format!("CASE-{i}")),
        ]),
        title: Some(format!("Customer ticket number {i}")),
        parent_thread_id: None,
        estimated_cost: 0.0,
        last_reply_status: None,
    }
}

fn message(thread_id: &str, i: usize) -> Message {
    Message {
        id: format!("msg_{thread_id}_{i}"),
        object: "thread.message".into(),
        thread_id: thread_id.to_string(),
        assistant_id: None,
        role: if i.is_multiple_of(2) {
            Role::User
        } else {
            Role::Assistant
        },
        content: Some(Content::Text(format!(
            "Message {i} of the thread, a short line of text."
        ))),
        attachments: vec![],
        tool_calls: vec![],
        tool_call_id: None,
        reasoning: vec![],
        status: MessageStatus::Completed,
        usage: Usage::default(),
        estimated_cost: 0.0,
        created_at: 1_795_000_000,
        error: None,
        files: Vec::new(),
        metadata: Default::default(),
    }
}

fn bench_list(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for i in 0..THREADS {
        store.put_thread(&thread(i)).unwrap();
    }
    let mut group = c.benchmark_group("store");
    group.bench_function("list_newest_50_of_10k_with_status_filter", |b| {
        b.iter(|| {
            let query = ThreadQuery {
                status: Some(ThreadStatus::RequiresAction),
                limit: 50,
                ..Default::default()
            };
            let (page, more) = store.list_threads(&query);
            assert_eq!(page.len(), 50);
            assert!(more);
        })
    });
    group.bench_function(
        "list_newest_50_of_10k_status_and_metadata_in_one_project",
        |b| {
            b.iter(|| {
                let query = ThreadQuery {
                    project_id: Some(format!("proj_{:024}", 1)),
                    status: Some(ThreadStatus::Active),
                    metadata: vec![("priority".into(), "high".into())],
                    limit: 50,
                    ..Default::default()
                };
                let (page, _) = store.list_threads(&query);
                assert_eq!(page.len(), 50);
            })
        },
    );
    group.finish();
}

fn bench_open(c: &mut Criterion) {
    let messages: usize = std::env::var("AGENTDECK_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let per_thread = messages / THREADS;
        for t in 0..THREADS {
            let th = thread(t);
            store.put_thread(&th).unwrap();
            for m in 0..per_thread {
                store.insert_message(&message(&th.id, m)).unwrap();
            }
        }
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(store.flush()).unwrap();
    }
    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.bench_function(format!("open_10k_threads_{messages}_messages"), |b| {
        b.iter(|| {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.thread_count(), THREADS);
            assert!(store.inflight_messages().unwrap().is_empty());
        })
    });
    group.finish();
    // What an open store holds in memory: the process's RSS before and after one open
    // (the writer above is gone; its pages are freed or reused).
    let before = rss_kib();
    let store = Store::open(dir.path()).unwrap();
    let after = rss_kib();
    eprintln!(
        "open of 10,000 threads and {messages} messages: RSS {:.1} MiB -> {:.1} MiB (+{:.1} MiB); data dir {:.1} MiB",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after - before) as f64 / 1024.0,
        dir_bytes(dir.path()) as f64 / 1024.0 / 1024.0,
    );
    drop(store);
}

/// Memory per stored message once sled's page cache is full: with the thread count
/// fixed, whatever still grows grows with the records the store keeps.
fn bench_memory_per_message(_: &mut Criterion) {
    let Some(total) = std::env::var("STORE_MEMORY_MESSAGES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let threads: Vec<Thread> = (0..100).map(thread).collect();
    for th in &threads {
        store.put_thread(th).unwrap();
    }
    let levelled_at = (total / 4).max(1);
    let mut levelled = None;
    for i in 0..total {
        let th = &threads[i % threads.len()];
        store.insert_message(&message(&th.id, i)).unwrap();
        if i % 100 == 99 {
            rt.block_on(store.flush()).unwrap();
        }
        if (i + 1) % levelled_at == 0 {
            let (rss, anonymous) = (rss_kib(), anonymous_kib());
            eprintln!(
                "{:>9} messages: RSS {:.1} MiB (anonymous {:.1}), data dir {:.1} MiB",
                i + 1,
                rss as f64 / 1024.0,
                anonymous as f64 / 1024.0,
                dir_bytes(dir.path()) as f64 / 1024.0 / 1024.0,
            );
            levelled.get_or_insert((i + 1, anonymous));
        }
    }
    if let Some((from, anonymous)) = levelled {
        let grown = (anonymous_kib() - anonymous) * 1024;
        eprintln!(
            "memory per stored message after {from}: {:.1} bytes (anonymous RSS, {} more messages)",
            grown as f64 / (total - from).max(1) as f64,
            total - from,
        );
    }
}

fn rss_kib() -> i64 {
    common::status_kib(std::process::id(), "VmRSS:") as i64
}

fn anonymous_kib() -> i64 {
    common::status_kib(std::process::id(), "RssAnon:") as i64
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                dir_bytes(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

criterion_group!(benches, bench_list, bench_open, bench_memory_per_message);
criterion_main!(benches);
