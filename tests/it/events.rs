//! SSE: resume with Last-Event-ID, many subscribers, replay of finished replies, scoping.

use crate::support::*;
use agentdeck::client::ServerEvent;
use futures::StreamExt;
use serde_json::json;

/// Reads a thread's events from `last_id` until the `done` of `reply_id`.
async fn thread_events_until_done(
    client: &agentdeck::client::Client,
    thread: &str,
    last_id: Option<u64>,
    reply_id: &str,
    stop_after: Option<usize>,
) -> Vec<ServerEvent> {
    let stream = client.events(&format!("/v2/threads/{thread}/events"), last_id);
    futures::pin_mut!(stream);
    let mut events = Vec::new();
    let read = async {
        while let Some(event) = stream.next().await {
            let event = event.unwrap();
            let done = event.name() == "done" && event.data()["message_id"] == reply_id;
            events.push(event);
            if done || stop_after.is_some_and(|n| events.len() >= n) {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), read)
        .await
        .expect("events within 20 s");
    events
}

#[tokio::test]
async fn resume_with_last_event_id_has_no_gaps_or_duplicates() {
    let server = TestServer::start().await;
    let (_, client) = server.project("resume").await;
    let a = client
        .create_assistant(&assistant("talker", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let before = client.events(&format!("/v2/threads/{thread}/events"), Some(0));
    drop(before);
    let posted = client
        .post_message(&thread, &user("/slow 300 /long 120"))
        .await
        .unwrap();
    let reply = posted.response_message_id.unwrap();

    // Read part, drop the connection, resume from the last id seen.
    let first = thread_events_until_done(&client, &thread, Some(0), &reply, Some(25)).await;
    assert_eq!(first.len(), 25);
    let last = first.last().unwrap().id;
    let rest = thread_events_until_done(&client, &thread, last, &reply, None).await;
    let everything = thread_events_until_done(&client, &thread, Some(0), &reply, None).await;

    let joined: Vec<u64> = first.iter().chain(&rest).map(|e| e.id.unwrap()).collect();
    let all: Vec<u64> = everything.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(joined, all, "resumed = uninterrupted");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "ids increase");
    let text: String = everything
        .iter()
        .filter(|e| e.name() == "message.delta")
        .map(|e| e.data()["delta"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(text, client.message(&thread, &reply).await.unwrap().text());

    // A bad Last-Event-ID is a clear 400.
    let err = client
        .get::<serde_json::Value>(&format!("/v2/threads/{thread}/events?last_event_id=abc"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    server.stop().await;
}

#[tokio::test]
async fn two_hundred_subscribers_see_the_same_busy_thread() {
    let server = TestServer::start().await;
    let (_, client) = server.project("fanout").await;
    let a = client
        .create_assistant(&assistant("busy", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let posted = client
        .post_message(&thread, &user("/slow 500 /long 400"))
        .await
        .unwrap();
    let reply = posted.response_message_id.unwrap();
    let mut readers = Vec::new();
    for _ in 0..200 {
        let client = client.clone();
        let thread = thread.clone();
        let reply = reply.clone();
        readers.push(tokio::spawn(async move {
            thread_events_until_done(&client, &thread, Some(0), &reply, None)
                .await
                .iter()
                .map(|e| e.id.unwrap())
                .collect::<Vec<u64>>()
        }));
    }
    let mut seen = Vec::new();
    for reader in readers {
        seen.push(reader.await.unwrap());
    }
    assert!(seen[0].len() > 400);
    assert!(
        seen.iter().all(|ids| *ids == seen[0]),
        "every subscriber got every event once"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_finished_reply_replays_exactly_and_ends() {
    let server = TestServer::start().await;
    let (_, client) = server.project("replay").await;
    let a = client
        .create_assistant(&assistant("talker", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let posted = client
        .post_message(&thread, &user("tell me something"))
        .await
        .unwrap();
    let reply = posted.response_message_id.unwrap();
    let live = collect(client.message_stream(&thread, &reply)).await;
    let replay = collect(client.message_stream(&thread, &reply)).await;
    assert_eq!(live, replay);
    assert_eq!(replay.last().unwrap().name(), "done");
    // Streaming the POST itself gives the same reply events.
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v2/threads/{thread}/messages?stream=true",
            server.url
        ))
        .bearer_auth(&server.admin_key)
        .json(&user("again"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await.unwrap();
    let mut parser = agentdeck::sse::SseParser::new();
    let mut events = Vec::new();
    parser.feed(body.as_bytes(), &mut events);
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert!(kinds.contains(&"message.delta"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"done"));
    assert!(events.iter().all(|e| e.id.is_some()));
    server.stop().await;
}

#[tokio::test]
async fn a_project_key_sees_only_its_projects_events() {
    let server = TestServer::start().await;
    let (_, mine) = server.project("mine").await;
    let (_, theirs) = server.project("theirs").await;
    let a = mine
        .create_assistant(&assistant("a", json!([]), vec![]))
        .await
        .unwrap();
    let b = theirs
        .create_assistant(&assistant("b", json!([]), vec![]))
        .await
        .unwrap();
    let my_thread = new_thread(&mine, &a.id).await;
    let their_thread = new_thread(&theirs, &b.id).await;
    ask(&theirs, &their_thread, "secret plans").await;
    let reply = ask(&mine, &my_thread, "hello").await;
    let stream = mine.events("/v2/events", Some(0));
    futures::pin_mut!(stream);
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        let event = event.unwrap();
        let done = event.name() == "done" && event.data()["message_id"] == reply.id.as_str();
        events.push(event);
        if done {
            break;
        }
    }
    assert!(
        events
            .iter()
            .all(|e| e.data()["thread_id"] == my_thread.as_str())
    );
    assert!(
        !events
            .iter()
            .any(|e| e.data().to_string().contains("secret plans"))
    );
    let err = mine
        .get::<serde_json::Value>(&format!("/v2/events?thread_id={their_thread}"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    server.stop().await;
}

#[tokio::test]
async fn idle_streams_get_keep_alive_pings() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir, |options| {
        options.sse_keepalive = std::time::Duration::from_millis(100)
    })
    .await;
    let response = reqwest::Client::new()
        .get(format!("{}/v2/events", server.url))
        .bearer_auth(&server.admin_key)
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(chunk) = body.next().await {
            seen.extend_from_slice(&chunk.unwrap());
            if seen.windows(7).any(|w| w == b": ping\n") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "got {:?}", String::from_utf8_lossy(&seen));
    server.stop().await;
}

#[tokio::test]
async fn the_client_reconnects_and_resumes_across_a_server_restart() {
    let server = TestServer::start().await;
    let addr = server.runtime.as_ref().unwrap().addr();
    let (_, client) = server.project("restart").await;
    let a = client
        .create_assistant(&assistant("a", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let subscriber = client.clone();
    let collected = tokio::spawn(async move {
        let stream = subscriber.events("/v2/events", Some(0));
        futures::pin_mut!(stream);
        let (mut events, mut drops, mut dones) = (Vec::new(), 0, 0);
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    dones += usize::from(event.name() == "done");
                    events.push(event);
                    if dones == 2 {
                        break;
                    }
                }
                Err(_) => drops += 1,
            }
        }
        (events, drops)
    });
    ask(&client, &thread, "first").await;
    let dir = server.stop().await;
    // The same data dir and address: the key and the event log survive the restart.
    let server = TestServer::start_with(dir, |options| options.listen = addr).await;
    ask(&client, &thread, "second").await;
    let (events, drops) = tokio::time::timeout(std::time::Duration::from_secs(30), collected)
        .await
        .expect("the subscriber saw both replies")
        .unwrap();
    assert!(drops > 0, "the subscriber noticed the restart");
    let ids: Vec<u64> = events.iter().map(|e| e.id.unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "no duplicates: {ids:?}"
    );
    // A replay from the start after the restart: the deltas of the first reply were
    // compacted into it, so it has the same structural events with the same ids, and the
    // same text (the compacted deltas come as one unnumbered delta).
    let fresh = client.events("/v2/events", Some(0));
    futures::pin_mut!(fresh);
    let mut replay = Vec::new();
    while let Some(event) = fresh.next().await {
        let event = event.unwrap();
        let last = event.name() == "done"
            && replay
                .iter()
                .filter(|e: &&ServerEvent| e.name() == "done")
                .count()
                == 1;
        replay.push(event);
        if last {
            break;
        }
    }
    let structural = |events: &[ServerEvent]| -> Vec<u64> {
        events
            .iter()
            .filter(|e| !e.name().ends_with(".delta"))
            .map(|e| e.id.unwrap())
            .collect()
    };
    assert_eq!(
        structural(&events),
        structural(&replay),
        "no gaps across the restart"
    );
    assert_eq!(
        deltas(&events, "message.delta"),
        deltas(&replay, "message.delta"),
        "the same text"
    );
    server.stop().await;
}

/// A subscriber that resumes from before the memory ring while a reply streams gets the
/// reply as far as it got (a snapshot without an id), then its live deltas: the text adds
/// up to the final message exactly.
#[tokio::test]
async fn a_resume_from_before_the_ring_gets_a_snapshot_then_the_live_tail() {
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |options| {
        options.engine.event_ring = 32;
    })
    .await;
    let (_, client) = server.project("snapshot").await;
    let a = client
        .create_assistant(&assistant("a", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let reply_id = post(&client, &thread, "/slow 150 /long 500 go").await;
    // Far more deltas than the ring holds have gone out.
    eventually("100 words streamed", || async {
        client
            .message(&thread, &reply_id)
            .await
            .unwrap()
            .text()
            .split_whitespace()
            .count()
            > 100
    })
    .await;
    // The reply's stream from its start: its creation is older than the ring.
    let events = collect(client.message_stream(&thread, &reply_id)).await;
    let snapshot = events
        .iter()
        .position(|e| e.id.is_none() && e.name() == "message.created")
        .expect("a snapshot of the streaming reply");
    let agentdeck::model::EventPayload::MessageCreated(created) = &events[snapshot].payload else {
        unreachable!()
    };
    let mut text = created.message.text();
    assert!(text.split_whitespace().count() > 100, "{text}");
    text.push_str(&deltas(&events[snapshot + 1..], "message.delta"));
    let reply = client.message(&thread, &reply_id).await.unwrap();
    assert_eq!(text, reply.text(), "snapshot + live deltas = the reply");
    assert_eq!(events.last().unwrap().name(), "done");
    server.stop().await;
}

async fn within_10s<T>(
    what: impl std::future::Future<Output = agentdeck::client::ClientResult<T>>,
) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(10), what)
        .await
        .expect("the log ends by itself")
        .unwrap()
}

/// `live=false` replays a thread's log and ends; a routed run's logs (the thread's and the
/// routed thread's) make a trace with the hop and the child's reply under it.
#[tokio::test]
async fn a_threads_log_ends_and_traces_its_routed_run() {
    let server = TestServer::start().await;
    let (_, client) = server.project("trace").await;
    let beta = client
        .create_assistant(&assistant("beta", json!([]), vec![]))
        .await
        .unwrap();
    let alpha = client
        .create_assistant(&assistant("alpha", json!([]), vec![beta.id.clone()]))
        .await
        .unwrap();
    let thread = new_thread(&client, &alpha.id).await;
    let reply = ask(&client, &thread, "/route beta please check the refund").await;
    let child = reply.tool_calls[0].thread_id.clone().unwrap();

    let root_log = within_10s(client.thread_log(&thread, 10_000)).await;
    let names: Vec<&str> = root_log.iter().map(|e| e.name()).collect();
    assert!(names.contains(&"routing"), "{names:?}");
    assert!(names.contains(&"message.completed"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    assert!(root_log.iter().all(|e| e.id.is_some()));
    let child_log = within_10s(client.thread_log(&child, 10_000)).await;
    assert!(child_log.iter().any(|e| e.name() == "message.completed"));

    let mut events = root_log;
    events.extend(child_log);
    events.sort_by_key(|e| e.id);
    let name = |id: &str| {
        if id == beta.id {
            "beta".to_string()
        } else {
            "alpha".to_string()
        }
    };
    let view = agentdeck::tui::trace::build(&thread, &events, events.len(), &name);
    let labels: Vec<String> = view
        .rows
        .iter()
        .map(|r| format!("{}{}", r.guides, view.spans[r.span].label))
        .collect();
    let hop = labels
        .iter()
        .position(|l| l.ends_with("→ beta"))
        .unwrap_or_else(|| panic!("a hop: {labels:#?}"));
    assert!(
        labels[hop..].iter().any(|l| l.contains("reply by beta")),
        "the routed reply hangs below the hop: {labels:#?}"
    );
    assert!(
        view.spans.iter().all(|s| s.end_ms.is_some()),
        "a finished run has ended: {labels:#?}"
    );

    // A limit cuts a log short rather than reading it all.
    let short = within_10s(client.thread_log(&thread, 3)).await;
    assert_eq!(short.len(), 3);
}

/// Issue #31's property, on one node: while replies stream in several threads (starting
/// and ending at different times, so the bus's rounds mix deltas with events that go to
/// disk first), a subscriber cut at random points and resumed with its last id sees every
/// event exactly once and in order; and a `GET` of a reply mid-stream holds at least the
/// text the subscriber has read of it and is a beginning of its final text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_cut_at_random_points_see_every_event_once_and_in_order() {
    use rand::Rng;
    use std::collections::HashMap;
    use std::time::Duration;
    let mut rng = seeded_rng();
    let server = TestServer::start().await;
    let (_, client) = server.project("cuts").await;
    let reader = server.admin();
    let a = client
        .create_assistant(&assistant("talker", json!([]), vec![]))
        .await
        .unwrap();
    let mut threads = Vec::new();
    for _ in 0..6 {
        threads.push(new_thread(&client, &a.id).await);
    }
    let (replies, wanted) = start_overlapping(&client, &threads, |i| {
        format!("/slow 80 /long {}", 40 + 30 * i)
    })
    .await;

    // The reference: one uninterrupted subscription from the start.
    let uninterrupted = tokio::spawn(ids_until_done(reader.clone(), wanted.clone()));

    // The same, cut after a random number of events each time and resumed from the last
    // id read; between connections, a GET of a reply still streaming.
    let cut = async {
        let mut cut = CutReader::new();
        let mut reads = Vec::new();
        let mut connections = 0;
        while !cut.all_done(&wanted) {
            connections += 1;
            cut.read(&reader, rng.random_range(1..60), &wanted).await;
            let streaming = replies.iter().find(|(_, r)| !cut.done.contains(r));
            if let Some((thread, reply)) = streaming {
                let got = reader.message(thread, reply).await.unwrap().text();
                let had = cut.text.get(reply).cloned().unwrap_or_default();
                reads.push((reply.clone(), had, got));
            }
        }
        (cut.ids, cut.text, reads, connections)
    };
    let (ids, text, reads, connections) = tokio::time::timeout(Duration::from_secs(60), cut)
        .await
        .expect("the cut subscriber saw every reply end within 60 s");
    let reference = tokio::time::timeout(Duration::from_secs(60), uninterrupted)
        .await
        .expect("the uninterrupted subscriber saw every reply end within 60 s")
        .unwrap();
    assert!(connections > 3, "cut {connections} times");
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids rise with no repeats"
    );
    // The cut reader stops at the last `done`; the uninterrupted one may read a little
    // further, never differently.
    assert_eq!(ids, reference[..ids.len()], "resumed = uninterrupted");
    for (thread, reply) in &replies {
        let stored = reader.message(thread, reply).await.unwrap().text();
        assert_eq!(text[reply], stored, "the deltas of {reply} make its text");
    }
    let finals: HashMap<String, String> = {
        let mut finals = HashMap::new();
        for (thread, reply) in &replies {
            finals.insert(
                reply.clone(),
                reader.message(thread, reply).await.unwrap().text(),
            );
        }
        finals
    };
    assert!(!reads.is_empty());
    for (reply, had, got) in &reads {
        assert!(
            got.starts_with(had.as_str()),
            "a GET mid-stream holds what the subscriber read ({} of {} bytes)",
            had.len(),
            got.len()
        );
        assert!(
            finals[reply].starts_with(got.as_str()),
            "a GET mid-stream is a beginning of the final text"
        );
    }
    server.stop().await;
}
