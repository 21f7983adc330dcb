//! A data dir written by an earlier build keeps working. Each fixture holds the
//! Getting-started threads (tool calls, a route, an approval waiting) and one more turn,
//! made by an earlier build, and `expected.json`, what that build's API showed of it
//! (`datadir-schema1/record.py`):
//! - `tests/fixtures/datadir-schema1`: the build before the compact forms (schema 1,
//!   commit f28369f);
//! - `tests/fixtures/datadir-schema2`: the build before rounds were logged as one record
//!   (schema 2, commit e87b97a).

use crate::support::{KillOnDrop, ask, wait_for_serve_info};
use agentdeck::client::Client;
use serde_json::Value;
use std::path::Path;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const ADMIN_KEY: &str = "sk-admin-fixture";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The real binary on `dir`'s own sled database, whatever backend the suite runs on.
async fn serve(dir: &Path) -> (KillOnDrop, String) {
    let _ = std::fs::remove_file(dir.join("serve.json"));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AGENTDECK_LOCAL_TPS", "0")
        .env("AGENTDECK_ADMIN_KEY", ADMIN_KEY)
        .env_remove("AGENTDECK_DATABASE_URL")
        .env_remove("AGENTDECK_REDIS_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child = KillOnDrop(child);
    let info = wait_for_serve_info(dir).await;
    (child, info.url)
}

async fn get(url: &str, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{url}{path}"))
        .bearer_auth(ADMIN_KEY)
        .timeout(std::time::Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "GET {path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// What the API shows of the data dir, in the shape `record.py` writes.
async fn shown(url: &str) -> Value {
    let client = Client::new(url, ADMIN_KEY);
    let mut threads = get(url, "/v2/threads?limit=100").await["data"]
        .as_array()
        .unwrap()
        .clone();
    threads.sort_by_key(|t| t["id"].as_str().unwrap_or_default().to_string());
    let (mut messages, mut events) = (serde_json::Map::new(), serde_json::Map::new());
    for thread in &threads {
        let id = thread["id"].as_str().unwrap();
        let listed = get(url, &format!("/v2/threads/{id}/messages?limit=100")).await;
        messages.insert(id.to_string(), listed["data"].clone());
        let log = client.thread_log(id, 10_000).await.unwrap();
        let log: Vec<Value> = log
            .iter()
            .map(|e| serde_json::json!([e.id, e.name(), e.data()]))
            .collect();
        events.insert(id.to_string(), Value::Array(log));
    }
    serde_json::json!({"threads": threads, "messages": messages, "events": events})
}

#[tokio::test]
async fn a_data_dir_of_schema_1_reads_as_before_and_takes_new_writes() {
    reads_as_before_and_takes_new_writes("datadir-schema1").await;
}

#[tokio::test]
async fn a_data_dir_of_schema_2_reads_as_before_and_takes_new_writes() {
    reads_as_before_and_takes_new_writes("datadir-schema2").await;
}

/// Opens a copy of the fixture with this build: it must show what the build that wrote
/// it showed, take a new turn, and show both after a kill and a restart.
async fn reads_as_before_and_takes_new_writes(fixture: &str) {
    let fixture = Path::new(FIXTURES).join(fixture);
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture.join("data"), dir.path());
    let text = std::fs::read_to_string(fixture.join("expected.json")).unwrap();
    let expected: Value = serde_json::from_str(&text).unwrap();

    let (server, url) = serve(dir.path()).await;
    let before = shown(&url).await;
    assert_eq!(
        before,
        expected,
        "{} reads differently from what its own build showed",
        fixture.display()
    );

    // A new turn on an old thread, written in the new forms, then a kill.
    let thread_id = expected["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["title"] == "Which payment methods do you accept?")
        .and_then(|t| t["id"].as_str())
        .unwrap();
    let client = Client::new(&url, ADMIN_KEY);
    let reply = ask(&client, thread_id, "And do you take bank transfers?").await;
    assert!(!reply.text().is_empty());
    drop(server);

    let (_server, url) = serve(dir.path()).await;
    let after = shown(&url).await;
    assert_eq!(after["threads"].as_array().map(Vec::len), Some(4));
    for (id, old) in expected["messages"].as_object().unwrap() {
        let now = after["messages"][id].as_array().unwrap();
        let old = old.as_array().unwrap();
        let added = if id == thread_id { 2 } else { 0 };
        assert_eq!(now.len(), old.len() + added, "messages of {id}");
        // Newest first: the new turn comes before the old messages.
        assert_eq!(&now[added..], &old[..], "the old messages of {id}");
        // Thread and memory events replay the thread as it is now, which the new turn
        // changed; every other event replays as it was.
        let old_events = expected["events"][id].as_array().unwrap();
        let new_events = after["events"][id].as_array().unwrap();
        for (new, old) in new_events.iter().zip(old_events) {
            let name = old[1].as_str().unwrap();
            if name.starts_with("thread.") || name.starts_with("memory.") {
                assert_eq!(
                    (&new[0], &new[1]),
                    (&old[0], &old[1]),
                    "an old event of {id}"
                );
            } else {
                assert_eq!(new, old, "an old event of {id}");
            }
        }
    }
    let messages = after["messages"][thread_id].as_array().unwrap();
    let last = &messages[0];
    assert_eq!(last["id"], reply.id.as_str());
    assert_eq!(last["content"].as_str(), Some(reply.text().as_str()));
    let names: Vec<&str> = after["events"][thread_id]
        .as_array()
        .unwrap()
        .iter()
        .skip(expected["events"][thread_id].as_array().unwrap().len())
        .filter_map(|e| e[1].as_str())
        .collect();
    for name in ["message.created", "message.completed", "done"] {
        assert!(
            names.contains(&name),
            "{name} missing from the new turn's log: {names:?}"
        );
    }
    drop(_server);

    // The mark that keeps the builds before out: they read it and refuse.
    let db = sled::open(dir.path().join("db")).unwrap();
    let mark = db.open_tree("meta").unwrap().get("schema_version").unwrap();
    assert_eq!(mark.as_deref(), Some(&b"3"[..]));
}
