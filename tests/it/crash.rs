//! kill -9 of `agentdeck serve` mid-generation loses no completed message.

use crate::support::*;
use agentdeck::client::Client;
use agentdeck::model::MessageStatus;
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_killed_server_keeps_completed_messages_and_marks_the_cut_reply_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, info) = spawn_serve(dir.path(), Some("sk-admin-crash-test")).await;
    assert_eq!(info.pid, child.id());
    let client = Client::new(&info.url, "sk-admin-crash-test");
    let project = client
        .create_project(&agentdeck::model::requests::ProjectCreate {
            name: "crash".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let client = client.with_project(Some(project.id.clone()));
    let a = client
        .create_assistant(&assistant("writer", json!([]), vec![]))
        .await
        .unwrap();
    let done_thread = new_thread(&client, &a.id).await;
    let completed = ask(&client, &done_thread, "a short answer please").await;
    assert_eq!(completed.status, MessageStatus::Completed);

    let cut_thread = new_thread(&client, &a.id).await;
    let posted = client
        .post_message(&cut_thread, &user("/slow 100 /long 3000"))
        .await
        .unwrap();
    let reply_id = posted.response_message_id.unwrap();
    let stream = client.message_stream(&cut_thread, &reply_id);
    futures::pin_mut!(stream);
    let mut streamed = String::new();
    let mut deltas = 0;
    while let Some(event) = stream.next().await {
        let event = event.unwrap();
        if event.name() == "message.delta" {
            streamed.push_str(event.data()["delta"].as_str().unwrap());
            deltas += 1;
            if deltas == 60 {
                break;
            }
        }
    }
    // Let the periodic save of the partial reply reach the disk, then kill without warning.
    tokio::time::sleep(Duration::from_millis(700)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let server = TestServer::start_in(dir).await;
    let admin = server.admin();
    let kept = admin.message(&done_thread, &completed.id).await.unwrap();
    assert_eq!(kept, completed, "the completed message survived whole");
    let cut = admin.message(&cut_thread, &reply_id).await.unwrap();
    assert_eq!(cut.status, MessageStatus::Incomplete);
    assert_eq!(
        cut.error.as_ref().unwrap().code.as_deref(),
        Some("interrupted")
    );
    let text = cut.text();
    assert!(!text.is_empty(), "the text received so far is kept");
    assert!(
        text.starts_with(&streamed) || streamed.starts_with(&text),
        "kept text is the reply's beginning"
    );
    assert!(text.split_whitespace().count() < 3000);
    let thread = admin.thread(&cut_thread).await.unwrap();
    assert_eq!(thread.status, agentdeck::model::ThreadStatus::Active);
    // The thread goes on.
    let next = ask(&admin, &cut_thread, "still there?").await;
    assert_eq!(next.status, MessageStatus::Completed);
    // A finished replay of the cut reply ends instead of waiting forever.
    let replay = collect(admin.message_stream(&cut_thread, &reply_id)).await;
    assert!(replay.iter().any(|e| e.name() == "message.delta"));
    server.stop().await;
}

/// How much streamed text a crash may take back: the bus's checkpoint interval plus the
/// time of one flush on a busy machine (README, "Durability").
const CHECKPOINT_BOUND: Duration = Duration::from_millis(250);

/// What clients were shown before a kill: messages reported completed (by an event or a
/// GET), and every longer text of a message that a GET or the stream of its deltas
/// showed, with when.
#[derive(Default)]
struct Shown {
    completed: std::collections::HashMap<String, agentdeck::model::Message>,
    read: std::collections::HashMap<String, Vec<(std::time::Instant, String)>>,
    /// The text of each reply as its deltas built it (replies seen from their start).
    streamed: std::collections::HashMap<String, String>,
}

impl Shown {
    fn saw(&mut self, message: &agentdeck::model::Message) {
        if message.status == MessageStatus::Completed {
            self.completed.insert(message.id.clone(), message.clone());
        }
        self.read_text(&message.id, message.text());
    }

    fn read_text(&mut self, id: &str, text: String) {
        let list = self.read.entry(id.to_string()).or_default();
        if list.last().is_none_or(|(_, last)| text.len() > last.len()) {
            list.push((std::time::Instant::now(), text));
        }
    }

    /// The longest text of each message read at or before `cutoff`.
    fn read_before(&self, cutoff: std::time::Instant) -> Vec<(&str, &str)> {
        self.read
            .iter()
            .filter_map(|(id, list)| {
                let (_, text) = list.iter().rev().find(|(at, _)| *at <= cutoff)?;
                Some((id.as_str(), text.as_str()))
            })
            .collect()
    }
}

/// Checks a restarted server against everything shown before the kill at `killed_at`:
/// every completed message byte for byte, and every text read up to the checkpoint
/// bound before the kill.
async fn check_nothing_shown_was_lost(
    client: &Client,
    threads: &[String],
    shown: &Shown,
    killed_at: std::time::Instant,
) {
    let mut stored = std::collections::HashMap::new();
    for thread in threads {
        let page = client
            .list_messages(thread, &[("limit", "1000"), ("order", "asc")])
            .await
            .unwrap();
        for message in page.data {
            assert_ne!(
                message.status,
                MessageStatus::InProgress,
                "{} stays in progress after a restart",
                message.id
            );
            stored.insert(message.id.clone(), message);
        }
    }
    for (id, completed) in &shown.completed {
        let kept = stored
            .get(id)
            .unwrap_or_else(|| panic!("completed message {id} was lost"));
        assert_eq!(
            kept, completed,
            "completed message {id} survives byte for byte"
        );
    }
    let cutoff = killed_at.checked_sub(CHECKPOINT_BOUND).unwrap_or(killed_at);
    for (id, read) in shown.read_before(cutoff) {
        let kept = stored
            .get(id)
            .unwrap_or_else(|| panic!("message {id}, read by a client, was lost"));
        assert!(
            kept.text().starts_with(read),
            "{id} kept {} bytes, a client had read {} more than {CHECKPOINT_BOUND:?} before the kill",
            kept.text().len(),
            read.len()
        );
    }
}

/// SIGKILLs the real server at random moments while replies stream, restarting it on the
/// same data dir each time. `AGENTDECK_CRASH_ITERATIONS` sets the rounds (default 20):
/// `AGENTDECK_CRASH_ITERATIONS=200 cargo test --release --test it crash_loop`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_loses_nothing_a_client_was_shown() {
    use rand::Rng;
    use std::sync::{Arc, Mutex};
    let iterations: usize = std::env::var("AGENTDECK_CRASH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let key = "sk-admin-crash-loop";
    let mut project_id = None;
    let mut threads: Vec<String> = Vec::new();
    let shown = Arc::new(Mutex::new(Shown::default()));
    let mut killed_at = std::time::Instant::now();
    let mut killed_cut = 0usize;
    for round in 0..=iterations {
        let _ = std::fs::remove_file(dir.path().join("serve.json"));
        let (mut child, info) = spawn_serve(dir.path(), Some(key)).await;
        assert_eq!(info.pid, child.id(), "round {round}: the server opened");
        let admin = Client::new(&info.url, key);
        if project_id.is_none() {
            let project = admin
                .create_project(&agentdeck::model::requests::ProjectCreate {
                    name: "crash loop".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            let client = admin.clone().with_project(Some(project.id.clone()));
            let writer = client
                .create_assistant(&assistant("writer", json!([]), vec![]))
                .await
                .unwrap();
            for _ in 0..4 {
                threads.push(new_thread(&client, &writer.id).await);
            }
            project_id = Some(project.id);
        }
        let client = admin.with_project(project_id.clone());
        {
            let mut before = std::mem::take(&mut *shown.lock().unwrap());
            check_nothing_shown_was_lost(&client, &threads, &before, killed_at).await;
            // What was checked is final now; completed messages stay checked every round.
            before.read.clear();
            before.streamed.clear();
            *shown.lock().unwrap() = before;
        }
        if round == iterations {
            child.kill().unwrap();
            child.wait().unwrap();
            break;
        }
        // A live subscriber records every delta and completion it is shown...
        let watcher = {
            let (client, shown) = (client.clone(), shown.clone());
            tokio::spawn(async move {
                let stream = client.events("/v2/events", None);
                futures::pin_mut!(stream);
                while let Some(Ok(event)) = stream.next().await {
                    let mut shown = shown.lock().unwrap();
                    match &event.payload {
                        agentdeck::model::EventPayload::MessageDelta(d) => {
                            // Only replies seen from their start: their text so far is known.
                            if let Some(text) = shown.streamed.get_mut(&d.message_id) {
                                text.push_str(&d.delta);
                                let text = text.clone();
                                shown.read_text(&d.message_id, text);
                            }
                        }
                        agentdeck::model::EventPayload::MessageCreated(e) => {
                            shown
                                .streamed
                                .insert(e.message_id.clone(), e.message.text());
                            shown.saw(&e.message)
                        }
                        agentdeck::model::EventPayload::MessageCompleted(e) => {
                            shown.saw(&e.message)
                        }
                        _ => {}
                    }
                }
            })
        };
        // ...and a poller records what GETs show.
        let poller = {
            let (client, shown, threads) = (client.clone(), shown.clone(), threads.clone());
            tokio::spawn(async move {
                loop {
                    for thread in &threads {
                        let Ok(page) = client.list_messages(thread, &[("limit", "5")]).await else {
                            return;
                        };
                        let mut shown = shown.lock().unwrap();
                        for message in &page.data {
                            shown.saw(message);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        let prompts = [
            "/slow 2000 /long 40 quick",
            "/slow 600 /long 120 medium",
            "/slow 300 /long 600 long",
            "/slow 150 /long 300 slow",
        ];
        for (thread, prompt) in threads.iter().zip(prompts) {
            client
                .post_message(thread, &user(&format!("{prompt} round {round}")))
                .await
                .unwrap();
        }
        let wait = rand::rng().random_range(0..600);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().unwrap();
        killed_at = std::time::Instant::now();
        child.wait().unwrap();
        watcher.abort();
        poller.abort();
        let _ = watcher.await;
        let _ = poller.await;
        let shown = shown.lock().unwrap();
        killed_cut += shown
            .read
            .keys()
            .filter(|id| !shown.completed.contains_key(*id))
            .count();
    }
    // The loop must have exercised both sides: replies that completed and replies cut.
    let killed_completed = shown.lock().unwrap().completed.len();
    assert!(
        killed_completed > iterations,
        "{killed_completed} completed"
    );
    assert!(killed_cut > 0, "{killed_cut} cut");
}

/// What the API answered as done (catalog changes that are not events among them) is on
/// disk before the answer: a SIGKILL right after it takes nothing back.
#[tokio::test]
async fn changes_the_api_answered_survive_an_instant_kill() {
    use serde_json::Value;
    let dir = tempfile::tempdir().unwrap();
    let key = "sk-admin-instant-kill";
    let (mut child, info) = spawn_serve(dir.path(), Some(key)).await;
    let admin = Client::new(&info.url, key);
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let mut made = Vec::new();
    for round in 0..5 {
        let project: Value = admin
            .post("/v2/projects", &json!({"name": format!("p{round}")}))
            .await
            .unwrap();
        let project_id = id(&project);
        let _: Value = admin
            .patch(
                &format!("/v2/projects/{project_id}"),
                &json!({"description": format!("patched {round}")}),
            )
            .await
            .unwrap();
        let client = admin.clone().with_project(Some(project_id.clone()));
        let assistant: Value = client
            .post(
                "/v2/assistants",
                &json!({"name": format!("a{round}"), "instructions": "x", "model": "local"}),
            )
            .await
            .unwrap();
        let assistant_id = id(&assistant);
        let _: Value = client
            .patch(
                &format!("/v2/assistants/{assistant_id}"),
                &json!({"instructions": format!("patched {round}")}),
            )
            .await
            .unwrap();
        let thread: Value = client
            .post(
                "/v2/threads",
                &json!({"assistant_id": assistant_id, "title": format!("t{round}")}),
            )
            .await
            .unwrap();
        let thread_id = id(&thread);
        let _: Value = client
            .patch(
                &format!("/v2/threads/{thread_id}"),
                &json!({"title": format!("retitled {round}")}),
            )
            .await
            .unwrap();
        made.push((project_id, assistant_id, thread_id));
    }
    // No pause: the kill comes as the last answer arrives.
    child.kill().unwrap();
    child.wait().unwrap();

    let server = TestServer::start_in(dir).await;
    let admin = server.admin();
    for (round, (project_id, assistant_id, thread_id)) in made.iter().enumerate() {
        let project: Value = admin
            .get(&format!("/v2/projects/{project_id}"))
            .await
            .unwrap();
        assert_eq!(project["description"], json!(format!("patched {round}")));
        let assistant: Value = admin
            .clone()
            .with_project(Some(project_id.clone()))
            .get(&format!("/v2/assistants/{assistant_id}"))
            .await
            .unwrap();
        assert_eq!(assistant["instructions"], json!(format!("patched {round}")));
        let thread = admin.thread(thread_id).await.unwrap();
        assert_eq!(
            thread.title.as_deref(),
            Some(format!("retitled {round}").as_str())
        );
    }
}
