//! The PostgreSQL backend's faults: the database going away under a running node, and
//! coming back. These need the test database server whatever backend the suite runs on.

use crate::support::*;
use agentdeck::model::{MessageStatus, ThreadStatus};
use serde_json::json;
use std::time::Duration;

/// Runs SQL on the test server's maintenance database.
async fn admin_sql(sql: &str) {
    let admin = std::env::var("AGENTDECK_TEST_DATABASE_URL")
        .expect("AGENTDECK_TEST_DATABASE_URL is not set (bash .ci/run starts the server)");
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
}

/// Keeps every connection out of `db` (or lets them in again) and ends the ones it has.
async fn cut(db: &str, away: bool) {
    admin_sql(&format!(
        "ALTER DATABASE {db} ALLOW_CONNECTIONS {allow};
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = '{db}' AND pid <> pg_backend_pid() AND {away};",
        allow = !away
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_answers_503_while_its_database_is_away_and_serves_again_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database();
    let db = url.rsplit('/').next().unwrap().to_string();
    let server = TestServer::start_with(dir, |options| {
        options.database_url = Some(url.clone());
    })
    .await;
    let (_, client) = server.project("outage").await;
    let a = client
        .create_assistant(&assistant("steady", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let first = ask(&client, &thread, "before").await;
    assert_eq!(first.status, MessageStatus::Completed);

    // A reply streams when the database goes away.
    let reply_id = post(&client, &thread, "/slow 50 /long 2000").await;
    eventually("some text", || async {
        client
            .message(&thread, &reply_id)
            .await
            .unwrap()
            .text()
            .len()
            > 10
    })
    .await;
    let seen = client.message(&thread, &reply_id).await.unwrap().text();
    cut(&db, true).await;

    let response = reqwest::Client::new()
        .get(format!("{}/v2/threads/{thread}/messages", server.url))
        .bearer_auth(&server.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    cut(&db, false).await;

    // The node reconnects by itself; the cut reply ended, nothing is left running.
    let mut reply = None;
    for _ in 0..300 {
        if let Ok(message) = client.message(&thread, &reply_id).await {
            if message.status.is_final() {
                reply = Some(message);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reply = reply.expect("the reply cut by the outage never ended");
    assert_eq!(reply.status, MessageStatus::Incomplete);
    assert_eq!(
        reply.error.as_ref().and_then(|e| e.code.as_deref()),
        Some("storage_unavailable")
    );
    assert!(
        reply.text().starts_with(&seen) && reply.text().len() < 2000 * 3,
        "the cut reply keeps at least the text read before the cut, and stopped"
    );
    eventually("the thread free again", || async {
        client
            .thread(&thread)
            .await
            .is_ok_and(|t| t.status == ThreadStatus::Active)
    })
    .await;
    let after = ask(&client, &thread, "after").await;
    assert_eq!(after.status, MessageStatus::Completed);
    assert_eq!(
        client.message(&thread, &first.id).await.unwrap().text(),
        first.text(),
        "what was completed before is there"
    );
    server.stop().await;
}
