//! Files: uploaded per project, typed by their bytes, served back whole; a message may
//! only name files of its own project.

use crate::support::*;
use serde_json::{Value, json};

#[tokio::test]
async fn files_are_kept_per_project_typed_by_content_and_checked_on_messages() {
    let config = agentdeck::config::Config::parse("[limits]\nmax_file_bytes = 4096\n").unwrap();
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |options| {
        options.config = config
    })
    .await;
    let admin = server.admin();
    let mut keys = Vec::new();
    for name in ["mine", "theirs"] {
        let project = admin
            .create_project(&agentdeck::model::requests::ProjectCreate {
                name: name.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let key = admin.create_key(&project.id, None).await.unwrap().key;
        keys.push(key);
    }
    let (mine, theirs) = (&keys[0], &keys[1]);

    let text = b"Liability shall not exceed $5M per annum.";
    let (status, file) = upload(&server.url, mine, None, "../contracts/acme.txt", text).await;
    assert_eq!(status, 200, "{file}");
    let id = file["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("file_"));
    assert_eq!(file["object"], "file");
    assert_eq!(file["bytes"], text.len());
    assert_eq!(file["filename"], "acme.txt");
    assert_eq!(file["content_type"], "text/plain");
    // The type is the bytes', not the name's.
    let (_, image) = upload(&server.url, mine, None, "notes.txt", &png(4, 3)).await;
    assert_eq!(image["content_type"], "image/png");
    assert_eq!(
        (image["width"].as_u64(), image["height"].as_u64()),
        (Some(4), Some(3))
    );
    // An image whose header cannot be read is refused.
    let (status, broken) = upload(&server.url, mine, None, "x.png", b"\x89PNG\r\n\x1a\n\0\0").await;
    assert_eq!(status, 400, "{broken}");
    assert!(
        broken["error"]["message"]
            .as_str()
            .unwrap()
            .contains("header is unreadable")
    );

    let client = agentdeck::client::Client::new(&server.url, mine);
    let listed: Value = client.get("/v2/files").await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    let got: Value = client.get(&format!("/v2/files/{id}")).await.unwrap();
    assert_eq!(got, file);
    let bytes = reqwest::Client::new()
        .get(format!("{}/v2/files/{id}/content", server.url))
        .bearer_auth(mine)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], text);

    // Another project sees nothing of it, and may not attach it.
    let other = agentdeck::client::Client::new(&server.url, theirs);
    let hidden = other
        .get::<Value>(&format!("/v2/files/{id}"))
        .await
        .unwrap_err();
    assert!(
        hidden.to_string().contains("404") || hidden.to_string().contains("No file"),
        "{hidden}"
    );
    let listed: Value = other.get("/v2/files").await.unwrap();
    assert!(listed["data"].as_array().unwrap().is_empty());
    let a = other
        .create_assistant(&assistant("a", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&other, &a.id).await;
    let mut message = user("read this");
    message.attachments = vec![serde_json::from_value(json!({"file_id": id})).unwrap()];
    let refused = other.post_message(&thread, &message).await.unwrap_err();
    assert!(refused.to_string().contains("No file"), "{refused}");
    assert!(
        other.all_messages(&thread).await.unwrap().is_empty(),
        "nothing stored"
    );

    // Empty and oversize files.
    let (status, body) = upload(&server.url, mine, None, "empty.txt", b"").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = upload(&server.url, mine, None, "big.txt", &[b'x'; 5000]).await;
    assert!(status == 400 || status == 413, "{status}: {body}");
}
