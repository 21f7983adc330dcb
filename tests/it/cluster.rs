//! Two real `agentdeck serve` nodes on one PostgreSQL database and one Redis: what one
//! starts streams to clients of the other, a cancel reaches the run's owner, a node
//! killed mid-run has its run ended by the other within the lease, and a client moving
//! from one node to the other resumes without a gap or a duplicate.

use crate::support::*;
use agentdeck::client::{Client, ServerEvent};
use agentdeck::model::{EventKind, MessageStatus, ThreadStatus};
use futures::StreamExt;
use serde_json::json;
use std::process::Child;
use std::time::{Duration, Instant};

struct Node {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ADMIN_KEY: &str = "sk-admin-cluster-test-0123456789abcdef";

fn redis_url() -> String {
    std::env::var("AGENTDECK_TEST_REDIS_URL")
        .expect("AGENTDECK_TEST_REDIS_URL is not set: the cluster tests need Redis (bash .ci/run starts one; by hand: source .ci/services.sh && start_redis DIR PORT)")
}

/// A `serve` node on `database` joined through the test Redis, local model at `tps`.
async fn node(database: &str, tps: &str) -> Node {
    node_with(database, tps, None).await
}

/// [`node`], with its uploaded files' folder `files` (shared between nodes) if given.
async fn node_with(database: &str, tps: &str, files: Option<&std::path::Path>) -> Node {
    let dir = tempfile::tempdir().unwrap();
    if let Some(files) = files {
        std::os::unix::fs::symlink(files, dir.path().join("files")).unwrap();
    }
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AGENTDECK_DATABASE_URL", database)
        .env("AGENTDECK_REDIS_URL", redis_url())
        .env("AGENTDECK_ADMIN_KEY", ADMIN_KEY)
        .env("AGENTDECK_LOCAL_TPS", tps)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let info = wait_for_serve_info(dir.path()).await;
    Node {
        child,
        url: info.url,
        _dir: dir,
    }
}

/// Two nodes on a fresh database, a project key valid on both, an assistant and a thread.
async fn cluster(tps: &str) -> (Node, Node, Client, Client, String) {
    let database = fresh_database();
    let a = node(&database, tps).await;
    let b = node(&database, tps).await;
    let admin = Client::new(&a.url, ADMIN_KEY);
    let project = admin
        .create_project(&agentdeck::model::requests::ProjectCreate {
            name: "team".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let key = admin.create_key(&project.id, None).await.unwrap().key;
    let (on_a, on_b) = (Client::new(&a.url, &key), Client::new(&b.url, &key));
    let assistant = on_a
        .create_assistant(&assistant("shared", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&on_a, &assistant.id).await;
    (a, b, on_a, on_b, thread)
}

/// Reads a thread's events from `client` until `stop` says so or 40 s pass.
async fn read_until(
    client: &Client,
    thread: &str,
    after: Option<u64>,
    mut stop: impl FnMut(&[ServerEvent]) -> bool,
) -> Vec<ServerEvent> {
    let mut stream = Box::pin(client.events(&format!("/v2/threads/{thread}/events"), after));
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while !stop(&seen) {
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("the events did not come within 40 s");
        match next {
            Some(Ok(event)) => seen.push(event),
            Some(Err(err)) => panic!("stream error: {err}"),
            None => break,
        }
    }
    seen
}

fn done(events: &[ServerEvent]) -> bool {
    events.iter().any(|e| e.kind() == EventKind::Done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_one_node_streams_to_the_other_and_a_client_moves_between_them() {
    let (_a, _b, on_a, on_b, thread) = cluster("200").await;
    // A client of B follows the thread from before the run; a client of A reads part.
    let whole = tokio::spawn({
        let on_b = on_b.clone();
        let thread = thread.clone();
        async move { read_until(&on_b, &thread, Some(0), done).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply_id = post(&on_a, &thread, "/long 300 across nodes").await;
    let first_part = read_until(&on_a, &thread, Some(0), |seen| {
        seen.iter()
            .filter(|e| e.kind() == EventKind::MessageDelta)
            .count()
            >= 20
    })
    .await;
    let last_seen = first_part.last().and_then(|e| e.id).unwrap();
    // The client moves to B and resumes from the last id it saw.
    let rest = read_until(&on_b, &thread, Some(last_seen), done).await;
    let whole = whole.await.unwrap();

    let ids = |events: &[ServerEvent]| -> Vec<u64> { events.iter().filter_map(|e| e.id).collect() };
    let whole_ids = ids(&whole);
    assert!(
        whole_ids.windows(2).all(|w| w[0] < w[1]),
        "one order, rising"
    );
    let mut moved = ids(&first_part);
    moved.extend(ids(&rest));
    assert_eq!(moved, whole_ids, "no gap and no duplicate across the move");
    let streamed: String = whole
        .iter()
        .filter(|e| e.kind() == EventKind::MessageDelta)
        .filter_map(|e| e.data()["delta"].as_str().map(str::to_string))
        .collect();
    let reply = on_b.message(&thread, &reply_id).await.unwrap();
    assert_eq!(reply.status, MessageStatus::Completed);
    assert_eq!(streamed, reply.text(), "B streamed A's whole reply");
    assert!(reply.text().split_whitespace().count() >= 300);
    // B lists the thread as A left it, and finds what was said on A.
    let listed = on_b.thread(&thread).await.unwrap();
    assert_eq!(listed.status, ThreadStatus::Active);
    assert!(listed.title.is_some());
    let hits = on_b.search("across nodes", None, None, 10).await.unwrap();
    assert!(hits.iter().any(|hit| hit.thread_id == thread), "{hits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_sent_to_one_node_stops_the_run_on_the_other() {
    let (_a, _b, on_a, on_b, thread) = cluster("40").await;
    let reply_id = post(&on_a, &thread, "/long 5000 a long one").await;
    eventually("some text", || async {
        on_b.message(&thread, &reply_id).await.unwrap().text().len() > 20
    })
    .await;
    let asked = Instant::now();
    on_b.cancel(&thread).await.unwrap();
    let mut reply = on_b.message(&thread, &reply_id).await.unwrap();
    while !reply.status.is_final() {
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "the cancel did not stop the run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        reply = on_b.message(&thread, &reply_id).await.unwrap();
    }
    assert_eq!(reply.status, MessageStatus::Incomplete);
    assert_eq!(
        reply.error.as_ref().and_then(|e| e.code.as_deref()),
        Some("cancelled")
    );
    eventually("the thread free on B", || async {
        on_b.thread(&thread).await.unwrap().status == ThreadStatus::Active
    })
    .await;
    let next = ask(&on_b, &thread, "and now on B").await;
    assert_eq!(next.status, MessageStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_run_has_its_run_ended_by_the_other_within_the_lease() {
    let (mut a, _b, on_a, on_b, thread) = cluster("40").await;
    let earlier = ask(&on_a, &thread, "/long 30 a finished one").await;
    assert_eq!(earlier.status, MessageStatus::Completed);
    let reply_id = post(&on_a, &thread, "/long 5000 a long one").await;
    eventually("some text", || async {
        on_b.message(&thread, &reply_id).await.unwrap().text().len() > 40
    })
    .await;
    let read = on_b.message(&thread, &reply_id).await.unwrap().text();
    a.child.kill().unwrap(); // SIGKILL
    a.child.wait().unwrap();
    let killed = Instant::now();
    let mut reply = on_b.message(&thread, &reply_id).await.unwrap();
    while !reply.status.is_final() {
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "the dead node's run was not ended within the lease (5 s) and a sweep"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        reply = on_b.message(&thread, &reply_id).await.unwrap();
    }
    assert_eq!(reply.status, MessageStatus::Incomplete);
    assert_eq!(
        reply.error.as_ref().and_then(|e| e.code.as_deref()),
        Some("node_lost")
    );
    assert!(
        reply.text().starts_with(&read),
        "keeps the text read before the kill"
    );
    assert_eq!(
        on_b.message(&thread, &earlier.id).await.unwrap(),
        earlier,
        "the completed message is there as it was"
    );
    eventually("the thread free on B", || async {
        on_b.thread(&thread).await.unwrap().status == ThreadStatus::Active
    })
    .await;
    let next = ask(&on_b, &thread, "carry on").await;
    assert_eq!(next.status, MessageStatus::Completed);
}

/// A TCP proxy in front of Redis for one node: `cut` stops every byte both ways on the
/// connections it carries and on new ones (a partition: no socket is closed), `heal`
/// lets them flow again.
struct Partition {
    url: String,
    open: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl Partition {
    async fn to(redis: &str) -> Partition {
        let target = redis
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let open = std::sync::Arc::new(tokio::sync::watch::channel(true).0);
        let flow = open.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                    continue;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                tokio::spawn(Self::pipe(ri, wo, flow.subscribe()));
                tokio::spawn(Self::pipe(ro, wi, flow.subscribe()));
            }
        });
        Partition { url, open }
    }

    async fn pipe(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        mut open: tokio::sync::watch::Receiver<bool>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let Ok(n) = from.read(&mut buffer).await else {
                return;
            };
            if n == 0 || open.wait_for(|open| *open).await.is_err() {
                return;
            }
            if to.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    }

    fn cut(&self) {
        self.open.send_replace(false);
    }

    fn heal(&self) {
        self.open.send_replace(true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_redis_gives_its_clients_every_event_once_it_heals() {
    let database = fresh_database();
    let partition = Partition::to(&redis_url()).await;
    let b = node(&database, "150").await;
    // Node A reaches Redis only through the partition.
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AGENTDECK_DATABASE_URL", &database)
        .env("AGENTDECK_REDIS_URL", &partition.url)
        .env("AGENTDECK_ADMIN_KEY", ADMIN_KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let a = Node {
        child,
        url: wait_for_serve_info(dir.path()).await.url,
        _dir: dir,
    };
    let admin = Client::new(&b.url, ADMIN_KEY);
    let project = admin
        .create_project(&agentdeck::model::requests::ProjectCreate {
            name: "partitioned".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let key = admin.create_key(&project.id, None).await.unwrap().key;
    let (on_a, on_b) = (Client::new(&a.url, &key), Client::new(&b.url, &key));
    let assistant = on_b
        .create_assistant(&assistant("steady", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&on_b, &assistant.id).await;
    let follow = |client: &Client| {
        let client = client.clone();
        let thread = thread.clone();
        tokio::spawn(async move { read_until(&client, &thread, Some(0), done).await })
    };
    let (via_a, via_b) = (follow(&on_a), follow(&on_b));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // B's reply still streams when the partition heals (1,500 words at 100 a second).
    let reply_id = post(&on_b, &thread, "/slow 100 /long 1500 through a partition").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    partition.cut();
    // A change made on A meanwhile cannot be numbered: 503 (A counts storage as away
    // until it heals; B's reply goes on).
    let refused = on_a
        .create_thread(&agentdeck::model::requests::ThreadCreate {
            assistant_id: assistant.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(503), "{refused}");
    // Longer than a read may take: the node finds its connection dead and makes it again.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    partition.heal();
    let (via_a, via_b) = (via_a.await.unwrap(), via_b.await.unwrap());
    let ids = |events: &[ServerEvent]| -> Vec<u64> { events.iter().filter_map(|e| e.id).collect() };
    assert!(ids(&via_b).len() > 100);
    assert_eq!(
        ids(&via_a),
        ids(&via_b),
        "A's client got every event once, in order"
    );
    let reply = on_a.message(&thread, &reply_id).await.unwrap();
    assert_eq!(reply.status, MessageStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projects_limits_hold_across_nodes() {
    let database = fresh_database();
    let (a, b) = (node(&database, "100").await, node(&database, "100").await);
    let admin = Client::new(&a.url, ADMIN_KEY);
    let project: serde_json::Value = admin
        .post(
            "/v2/projects",
            &json!({"name": "one at a time",
                    "limits": {"tokens_per_minute": 10_000_000, "concurrent_threads": 1}}),
        )
        .await
        .unwrap();
    let id = project["id"].as_str().unwrap().to_string();
    let on_a = Client::new(&a.url, ADMIN_KEY).with_project(Some(id.clone()));
    let on_b = Client::new(&b.url, ADMIN_KEY).with_project(Some(id.clone()));
    let worker = on_a
        .create_assistant(&assistant("worker", json!([]), vec![]))
        .await
        .unwrap()
        .id;
    let first = new_thread(&on_a, &worker).await;
    let second = new_thread(&on_b, &worker).await;
    let first_reply = post(&on_a, &first, "/long 150 the first").await;
    eventually("the first running on A", || async {
        on_a.thread(&first).await.unwrap().status == ThreadStatus::Running
    })
    .await;
    // One at a time for the project: the run B starts waits for A's.
    let second_reply = post(&on_b, &second, "/long 20 the second").await;
    eventually("the second queued on B", || async {
        on_b.thread(&second).await.unwrap().status == ThreadStatus::Queued
    })
    .await;
    assert!(
        !on_b
            .message(&first, &first_reply)
            .await
            .unwrap()
            .status
            .is_final()
    );
    let second_done = wait_reply(&on_b, &second, &second_reply).await;
    let first_done = on_a.message(&first, &first_reply).await.unwrap();
    assert_eq!(first_done.status, MessageStatus::Completed);
    assert_eq!(second_done.status, MessageStatus::Completed);

    // Costs add up the same on both nodes.
    let costs_a: serde_json::Value = on_a.get(&format!("/v2/projects/{id}/costs")).await.unwrap();
    let costs_b: serde_json::Value = on_b.get(&format!("/v2/projects/{id}/costs")).await.unwrap();
    assert_eq!(costs_a["estimated_cost"], costs_b["estimated_cost"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_had_produced_nothing_when_its_node_died_runs_again_on_another() {
    let database = fresh_database();
    let (mut a, b) = (node(&database, "100").await, node(&database, "100").await);
    let admin = Client::new(&b.url, ADMIN_KEY);
    let project: serde_json::Value = admin
        .post(
            "/v2/projects",
            &json!({"name": "one at a time",
                    "limits": {"tokens_per_minute": 10_000_000, "concurrent_threads": 1}}),
        )
        .await
        .unwrap();
    let id = project["id"].as_str().unwrap().to_string();
    let on_a = Client::new(&a.url, ADMIN_KEY).with_project(Some(id.clone()));
    let on_b = Client::new(&b.url, ADMIN_KEY).with_project(Some(id.clone()));
    let worker = on_b
        .create_assistant(&assistant("worker", json!([]), vec![]))
        .await
        .unwrap()
        .id;
    // B's run holds the project's one slot; the run A starts waits for it, with nothing
    // produced yet, when A dies.
    let busy = new_thread(&on_b, &worker).await;
    let busy_reply = post(&on_b, &busy, "/long 300 the busy one").await;
    let waiting = new_thread(&on_a, &worker).await;
    let waiting_reply = post(&on_a, &waiting, "hello after the busy one").await;
    eventually("the second queued on A", || async {
        on_a.thread(&waiting).await.unwrap().status == ThreadStatus::Queued
    })
    .await;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    // The lease lapses (5 s), B takes the run over, it waits for the busy one's slot.
    let killed = Instant::now();
    let mut reply = on_b.message(&waiting, &waiting_reply).await.unwrap();
    while !reply.status.is_final() {
        assert!(
            killed.elapsed() < Duration::from_secs(40),
            "the dead node's run never ran again: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        reply = on_b.message(&waiting, &waiting_reply).await.unwrap();
    }
    assert_eq!(reply.status, MessageStatus::Completed, "{reply:?}");
    assert!(!reply.text().is_empty());
    let busy_done = on_b.message(&busy, &busy_reply).await.unwrap();
    assert_eq!(busy_done.status, MessageStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_search_answers_on_a_node_that_did_not_read_the_file() {
    let database = fresh_database();
    let shared = tempfile::tempdir().unwrap();
    let a = node_with(&database, "0", Some(shared.path())).await;
    let b = node_with(&database, "0", Some(shared.path())).await;
    let admin = Client::new(&a.url, ADMIN_KEY);
    let project = admin
        .create_project(&agentdeck::model::requests::ProjectCreate {
            name: "documents".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let key = admin.create_key(&project.id, None).await.unwrap().key;
    let (on_a, on_b) = (Client::new(&a.url, &key), Client::new(&b.url, &key));
    let policy = "Refund policy. Customers may return unopened items within forty five days \
                  of delivery for a full refund to the original card.";
    let (status, file) = upload(&a.url, &key, None, "policy.md", policy.as_bytes()).await;
    assert_eq!(status, 200, "{file}");
    let file_id = file["id"].as_str().unwrap().to_string();
    let store: serde_json::Value = on_a
        .post(
            "/v2/vector_stores",
            &json!({"name": "policies", "file_ids": [file_id]}),
        )
        .await
        .unwrap();
    let store_id = store["id"].as_str().unwrap().to_string();
    eventually("the file read on A", || async {
        on_a.get::<serde_json::Value>(&format!("/v2/vector_stores/{store_id}"))
            .await
            .unwrap()["status"]
            == "completed"
    })
    .await;
    // B never read it: its first search reads it from the shared folder.
    let support = on_b
        .create_assistant(&assistant(
            "support",
            json!([{"type": "file_search", "vector_store_ids": [store_id]}]),
            vec![],
        ))
        .await
        .unwrap();
    let thread = new_thread(&on_b, &support.id).await;
    let reply = ask(
        &on_b,
        &thread,
        "How many days do customers have for a refund?",
    )
    .await;
    let output: serde_json::Value =
        serde_json::from_str(reply.tool_calls[0].output.as_deref().unwrap()).unwrap();
    assert_eq!(output["results"][0]["file_id"], json!(file_id), "{output}");
    assert!(reply.text().contains("forty five days"), "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_paused_on_one_node_is_approved_through_the_other() {
    let (_a, _b, on_a, on_b, _) = cluster("0").await;
    let mut body = assistant(
        "cautious",
        json!([{"type": "function",
            "function": {"name": "pay", "description": "pay", "parameters": {"type": "object", "properties": {}}},
            "handler": {"command": ["cat"], "timeout_ms": 5000}}]),
        vec![],
    );
    body.approval = agentdeck::model::Approval::Always;
    let cautious = on_a.create_assistant(&body).await.unwrap();
    let thread = new_thread(&on_a, &cautious.id).await;
    let reply_id = post(&on_a, &thread, "/tool pay {\"amount\": 100}").await;
    eventually("the call waiting for approval, seen on B", || async {
        on_b.thread(&thread).await.unwrap().status == ThreadStatus::RequiresAction
    })
    .await;
    let waiting = on_b.message(&thread, &reply_id).await.unwrap();
    on_b.approve(
        &thread,
        &waiting.tool_calls[0].id,
        Some(json!({"amount": 5})),
    )
    .await
    .unwrap();
    let done = wait_reply(&on_a, &thread, &reply_id).await;
    assert_eq!(done.status, MessageStatus::Completed);
    assert_eq!(
        done.tool_calls[0].output.as_deref(),
        Some(r#"{"amount":5}"#)
    );
}

/// Issue 31's resume property across two nodes: replies run on A; a subscriber is cut
/// after a random number of events and resumes with its last id on a node picked at
/// random each time, and sees what an uninterrupted subscriber of B sees: every event
/// once, in order, each reply's deltas making its stored text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_cut_at_random_points_across_nodes_see_every_event_once_and_in_order() {
    use rand::Rng;
    let mut rng = seeded_rng();
    let (_a, _b, on_a, on_b, first) = cluster("200").await;
    let assistant_id = on_a.thread(&first).await.unwrap().assistant_id;
    let mut threads = vec![first];
    for _ in 0..3 {
        threads.push(new_thread(&on_a, &assistant_id).await);
    }
    let (replies, wanted) = start_overlapping(&on_a, &threads, |i| {
        format!("/long {} across nodes", 60 + 40 * i)
    })
    .await;

    // The reference: one uninterrupted subscriber of B from the start.
    let uninterrupted = tokio::spawn(ids_until_done(on_b.clone(), wanted.clone()));

    let cut = async {
        let mut cut = CutReader::new();
        let mut connections = [0usize; 2];
        while !cut.all_done(&wanted) {
            let node = usize::from(rng.random_bool(0.5));
            connections[node] += 1;
            let take = rng.random_range(1..60);
            cut.read([&on_a, &on_b][node], take, &wanted).await;
        }
        (cut.ids, cut.text, connections)
    };
    let (ids, text, connections) = tokio::time::timeout(Duration::from_secs(60), cut)
        .await
        .expect("the cut subscriber saw every reply end within 60 s");
    let reference = tokio::time::timeout(Duration::from_secs(60), uninterrupted)
        .await
        .expect("the uninterrupted subscriber saw every reply end within 60 s")
        .unwrap();
    assert!(
        connections.iter().all(|n| *n > 1),
        "connections per node: {connections:?}"
    );
    // The cut reader stops at the last `done`; the uninterrupted one may read a little
    // further, never differently.
    assert!(
        ids.len() <= reference.len(),
        "{} > {}",
        ids.len(),
        reference.len()
    );
    assert_eq!(
        ids,
        reference[..ids.len()],
        "resumed across nodes = uninterrupted"
    );
    for (thread, reply) in &replies {
        let stored = on_b.message(thread, reply).await.unwrap();
        assert_eq!(stored.status, MessageStatus::Completed);
        assert_eq!(
            text.get(reply).map(String::as_str),
            Some(stored.text().as_str()),
            "the deltas of {reply} make its text"
        );
    }
}
