//! Keys and project scoping.

use crate::support::*;
use agentdeck::client::Client;
use serde_json::json;

#[tokio::test]
async fn keys_are_required_checked_and_scoped() {
    let server = TestServer::start().await;
    let health = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "healthz needs no key");

    let anonymous = reqwest::get(format!("{}/v2/threads", server.url))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: serde_json::Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");
    let wrong = Client::new(&server.url, "sk-proj-wrong");
    assert_eq!(
        wrong.list_threads(&[]).await.unwrap_err().status(),
        Some(401)
    );

    let (mine, me) = server.project("mine").await;
    let (theirs, them) = server.project("theirs").await;
    let my_assistant = me
        .create_assistant(&assistant("a", json!([]), vec![]))
        .await
        .unwrap();
    let their_assistant = them
        .create_assistant(&assistant("b", json!([]), vec![]))
        .await
        .unwrap();
    let their_thread = new_thread(&them, &their_assistant.id).await;

    // Another project's objects do not exist for me.
    assert_eq!(
        me.thread(&their_thread).await.unwrap_err().status(),
        Some(404)
    );
    assert_eq!(
        me.get::<serde_json::Value>(&format!("/v2/assistants/{}", their_assistant.id))
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );
    assert_eq!(
        me.list_messages(&their_thread, &[])
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );
    assert_eq!(me.limits(&theirs.id).await.unwrap_err().status(), Some(404));
    let err = me
        .create_thread(&agentdeck::model::requests::ThreadCreate {
            assistant_id: their_assistant.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    let listed = me.list_assistants().await.unwrap();
    assert_eq!(
        listed.data.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        vec![my_assistant.id.clone()]
    );
    let projects = me.list_projects().await.unwrap();
    assert_eq!(projects.data.len(), 1);
    assert_eq!(projects.data[0].id, mine.id);

    // Only the admin key creates projects and keys.
    let err = me
        .create_project(&agentdeck::model::requests::ProjectCreate {
            name: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert_eq!(
        me.create_key(&mine.id, None).await.unwrap_err().status(),
        Some(403)
    );
    // A project header that names another project is refused.
    let crossed = me.clone().with_project(Some(theirs.id.clone()));
    assert_eq!(
        crossed.list_threads(&[]).await.unwrap_err().status(),
        Some(401)
    );

    // The admin names the project for project-scoped calls.
    let admin = server.admin();
    let err = admin
        .create_assistant(&assistant("c", json!([]), vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    let scoped = admin.clone().with_project(Some(mine.id.clone()));
    let created = scoped
        .create_assistant(&assistant("c", json!([]), vec![]))
        .await
        .unwrap();
    assert_eq!(created.project_id, mine.id);
    assert_eq!(
        scoped.thread(&their_thread).await.unwrap_err().status(),
        Some(404)
    );
    assert_eq!(admin.thread(&their_thread).await.unwrap().id, their_thread);

    // Keys are stored hashed: the secret is nowhere in the data dir.
    let key = admin
        .create_key(&mine.id, Some("audit".into()))
        .await
        .unwrap();
    let dir = server.stop().await;
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes
                    .windows(key.key.len())
                    .any(|w| w == key.key.as_bytes()),
                "{} holds the key",
                path.display()
            );
        }
    }
}

/// A project key over its request rate gets 429 with Retry-After; the admin key and
/// other keys are not held back by it.
#[tokio::test]
async fn a_project_key_over_its_rate_gets_429() {
    let config =
        agentdeck::config::Config::parse("[api]\nrequests_per_second = 0.5\nrequest_burst = 3\n")
            .unwrap();
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |options| {
        options.config = config
    })
    .await;
    let admin = server.admin();
    let project = admin
        .create_project(&agentdeck::model::requests::ProjectCreate {
            name: "busy".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let key = admin.create_key(&project.id, None).await.unwrap().key;
    let client = Client::new(&server.url, &key);
    for _ in 0..3 {
        client.list_assistants().await.unwrap();
    }
    let response = reqwest::Client::new()
        .get(format!("{}/v2/assistants", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let (_, other) = server.project("calm").await;
    other.list_assistants().await.unwrap();
    for _ in 0..10 {
        admin.list_projects().await.unwrap();
    }
}
