//! Documents: vector stores read uploads into chunks, `file_search` cites them (the
//! seed's legal review, offline), attachments reach the thread's own store, and search
//! across threads finds only what the key may see.

use crate::support::*;
use serde_json::{Value, json};

/// A real PDF of several pages, one paragraph of text each (Helvetica).
pub fn pdf(pages: &[&str]) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for text in pages {
        let mut operations = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 11.into()]),
            Operation::new("Td", vec![50.into(), 750.into()]),
            Operation::new("TL", vec![14.into()]),
        ];
        // One line per sentence, so the text is not one very long line.
        for line in text.split_inclusive(". ") {
            operations.push(Operation::new("Tj", vec![Object::string_literal(line)]));
            operations.push(Operation::new("T*", vec![]));
        }
        operations.push(Operation::new("ET", vec![]));
        let content = Content { operations };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    doc.trailer.set("Root", catalog_id);
    doc.compress();
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

const CONTRACT: [&str; 3] = [
    "Master Services Agreement between Acme Corporation and Globex Limited. This agreement starts on 1 March 2026 and runs for three years.",
    "Section 4. Payment terms. Invoices are due within thirty days. Late payments carry interest of one percent per month.",
    "Section 9. Limitation of liability. The total liability of Acme under this agreement shall not exceed five million dollars per annum, except for gross negligence.",
];

/// How long a store of a few small files may take to be read.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(15);

/// Waits until every file of the store is read, and returns the store.
pub async fn settled(
    client: &agentdeck::client::Client,
    id: &str,
    within: std::time::Duration,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..within.as_millis() / 50 {
        last = client
            .get::<Value>(&format!("/v2/vector_stores/{id}"))
            .await
            .unwrap();
        if last["status"] == "completed" {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the vector store did not settle: {last}");
}

#[tokio::test]
async fn legal_review_cites_the_contract_offline() {
    let server = TestServer::start().await;
    let (project, client) = server.project("legal").await;
    let key = client.key().to_string();
    let contract = pdf(&CONTRACT);
    let (status, file) = upload(&server.url, &key, None, "contract.pdf", &contract).await;
    assert_eq!(status, 200, "{file}");
    assert_eq!(file["content_type"], "application/pdf");
    let file_id = file["id"].as_str().unwrap().to_string();

    let store: Value = client
        .post(
            "/v2/vector_stores",
            &json!({"name": "Legal docs 2026", "file_ids": [file_id]}),
        )
        .await
        .unwrap();
    let store_id = store["id"].as_str().unwrap().to_string();
    assert!(store_id.starts_with("vs_"), "{store}");
    assert_eq!(store["object"], "vector_store");
    assert_eq!(store["file_ids"], json!([file_id]));
    let store = settled(&client, &store_id, SETTLE).await;
    assert_eq!(store["files"][0]["status"], "completed", "{store}");
    assert!(
        store["files"][0]["chunks"].as_u64().unwrap() >= 3,
        "{store}"
    );
    assert_eq!(store["file_counts"]["completed"], 1);

    let legal = client
        .create_assistant(&assistant(
            "legal",
            json!([{"type": "file_search", "vector_store_ids": [store_id]}]),
            vec![],
        ))
        .await
        .unwrap();
    let thread = new_thread(&client, &legal.id).await;
    let reply = ask(&client, &thread, "What does the liability clause say?").await;
    let call = &reply.tool_calls[0];
    assert_eq!(
        serde_json::to_value(call.kind).unwrap(),
        json!("file_search")
    );
    let output: Value = serde_json::from_str(call.output.as_deref().unwrap()).unwrap();
    assert_eq!(
        output["results"][0]["citation"], "[contract.pdf p.3]",
        "{output}"
    );
    assert_eq!(output["results"][0]["file_id"], json!(file_id));
    assert!(output["results"][0]["score"].as_f64().unwrap() > 0.0);
    let text = reply.text();
    assert!(text.contains("[contract.pdf p.3]"), "{text}");
    assert!(text.contains("five million dollars"), "{text}");

    // Another project's key finds nothing of it, by store id or by search.
    let (_, other) = server.project("other").await;
    let hidden = other
        .get::<Value>(&format!("/v2/vector_stores/{store_id}"))
        .await
        .unwrap_err();
    assert!(hidden.to_string().contains("No vector store"), "{hidden}");
    let snoop = other
        .create_assistant(&assistant(
            "snoop",
            json!([{"type": "file_search", "vector_store_ids": [store_id]}]),
            vec![],
        ))
        .await
        .unwrap();
    let snoop_thread = new_thread(&other, &snoop.id).await;
    let snooped = ask(&other, &snoop_thread, "What does the liability clause say?").await;
    let output: Value =
        serde_json::from_str(snooped.tool_calls[0].output.as_deref().unwrap()).unwrap();
    assert_eq!(output["results"], json!([]), "{output}");
    assert_eq!(output["missing_vector_stores"], json!([store_id]));

    // Search across threads, scoped to the key.
    let found: Value = client.get("/v2/search?q=liability").await.unwrap();
    let hits = found["data"].as_array().unwrap();
    assert!(!hits.is_empty(), "{found}");
    assert!(
        hits.iter().all(|h| h["thread_id"] == json!(thread)),
        "{found}"
    );
    let hit = &hits[0];
    assert!(
        hit["snippet"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("liability")
    );
    assert!(hit["score"].as_f64().unwrap() > 0.0);
    let theirs: Value = other.get("/v2/search?q=liability").await.unwrap();
    assert!(
        theirs["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["thread_id"] == json!(snoop_thread)),
        "{theirs}"
    );
    let none: Value = other.get("/v2/search?q=negligence").await.unwrap();
    assert_eq!(
        none["data"],
        json!([]),
        "the other project's tool output is not found"
    );
    let admin: Value = server
        .admin()
        .get("/v2/search?q=negligence&limit=5")
        .await
        .unwrap();
    assert!(!admin["data"].as_array().unwrap().is_empty(), "{admin}");
    let filtered: Value = client
        .get(&format!(
            "/v2/search?q=liability&assistant_id={}&status=closed",
            legal.id
        ))
        .await
        .unwrap();
    assert_eq!(filtered["data"], json!([]), "no closed thread matches");
    let bad = client.get::<Value>("/v2/search?q=").await.unwrap_err();
    assert!(bad.to_string().contains("q is required"), "{bad}");
    let _ = project;
}

#[tokio::test]
async fn attachments_reach_the_threads_own_store_both_ways() {
    let server = TestServer::start().await;
    let (_, client) = server.project("attach").await;
    let key = client.key().to_string();
    let plain = client
        .create_assistant(&assistant("plain", json!([]), vec![]))
        .await
        .unwrap();

    // An attachments entry asking for file_search, on an assistant without the tool.
    let (_, file) = upload(&server.url, &key, None, "contract.pdf", &pdf(&CONTRACT)).await;
    let thread = new_thread(&client, &plain.id).await;
    let mut message = user("When are invoices due?");
    message.attachments = vec![
        serde_json::from_value(json!({"file_id": file["id"], "tools": [{"type": "file_search"}]}))
            .unwrap(),
    ];
    let posted = client.post_message(&thread, &message).await.unwrap();
    let reply = wait_reply(
        &client,
        &thread,
        posted.response_message_id.as_deref().unwrap(),
    )
    .await;
    assert_eq!(reply.tool_calls.len(), 1, "{reply:?}");
    let text = reply.text();
    assert!(text.contains("[contract.pdf p.2]"), "{text}");
    assert!(text.contains("thirty days"), "{text}");

    // A content part naming a large text file: searched, not given inline.
    let mut handbook = String::new();
    for i in 0..4_000 {
        handbook.push_str(&format!(
            "Paragraph {i} of the handbook is about nothing much.\n"
        ));
    }
    handbook.push_str("The refund window for hardware is forty-five days from delivery.\n");
    let (_, big) = upload(&server.url, &key, None, "handbook.md", handbook.as_bytes()).await;
    let thread = new_thread(&client, &plain.id).await;
    let message: agentdeck::model::requests::MessageCreate = serde_json::from_value(json!({
        "role": "user",
        "content": [
            {"type": "text", "text": "How long is the refund window for hardware?"},
            {"type": "file", "file_id": big["id"]}
        ]
    }))
    .unwrap();
    let posted = client.post_message(&thread, &message).await.unwrap();
    let reply = wait_reply(
        &client,
        &thread,
        posted.response_message_id.as_deref().unwrap(),
    )
    .await;
    let text = reply.text();
    assert!(text.contains("forty-five days"), "{text}");
    assert!(
        text.contains("[handbook.md lines ") && text.contains("-4001]"),
        "{text}"
    );
    let stores: Value = client.get("/v2/vector_stores").await.unwrap();
    let own: Vec<&Value> = stores["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["thread_id"] == json!(thread))
        .collect();
    assert_eq!(own.len(), 1, "{stores}");
}

#[tokio::test]
async fn bad_documents_fail_clearly_and_leave_the_store_as_it_was() {
    let server = TestServer::start().await;
    let (_, client) = server.project("bad").await;
    let key = client.key().to_string();
    let (_, good) = upload(
        &server.url,
        &key,
        None,
        "terms.txt",
        b"Warranty lasts two years.",
    )
    .await;
    // Uploads larger than the API's 1 MiB body limit take the file limit (32 MiB).
    let (status, large) = upload(&server.url, &key, None, "large.txt", &vec![b'a'; 3 << 20]).await;
    assert_eq!(status, 200, "{large}");
    assert_eq!(large["bytes"], 3 << 20);
    let (_, broken) = upload(&server.url, &key, None, "broken.pdf", b"%PDF-1.7\ngarbage").await;
    let (_, image) = upload(&server.url, &key, None, "x.png", &png(8, 8)).await;
    let store: Value = client
        .post(
            "/v2/vector_stores",
            &json!({"name": "mixed", "file_ids": [good["id"], broken["id"], image["id"]]}),
        )
        .await
        .unwrap();
    let id = store["id"].as_str().unwrap().to_string();
    let store = settled(&client, &id, SETTLE).await;
    let status = |file: &Value| {
        store["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["file_id"] == file["id"])
            .cloned()
            .unwrap()
    };
    assert_eq!(status(&good)["status"], "completed", "{store}");
    let broken_status = status(&broken);
    assert_eq!(broken_status["status"], "failed");
    assert!(
        broken_status["last_error"]
            .as_str()
            .unwrap()
            .contains("PDF is unreadable"),
        "{broken_status}"
    );
    assert!(
        status(&image)["last_error"]
            .as_str()
            .unwrap()
            .contains("image/png files have no text"),
        "{store}"
    );
    assert_eq!(store["file_counts"]["failed"], 2);

    // Unknown files: a 404, nothing made.
    let before: Value = client.get("/v2/vector_stores").await.unwrap();
    let refused = client
        .post::<Value>(
            "/v2/vector_stores",
            &json!({"name": "x", "file_ids": ["file_nope"]}),
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("No file"), "{refused}");
    let after: Value = client.get("/v2/vector_stores").await.unwrap();
    assert_eq!(
        before["data"].as_array().unwrap().len(),
        after["data"].as_array().unwrap().len()
    );
    let refused = client
        .post::<Value>(
            &format!("/v2/vector_stores/{id}/files"),
            &json!({"file_id": "file_nope"}),
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("No file"), "{refused}");

    // Deleting a file takes it out of the store and the index.
    let searcher = client
        .create_assistant(&assistant(
            "searcher",
            json!([{"type": "file_search", "vector_store_ids": [id]}]),
            vec![],
        ))
        .await
        .unwrap();
    let thread = new_thread(&client, &searcher.id).await;
    let reply = ask(&client, &thread, "How long does the warranty last?").await;
    assert!(
        reply.text().contains("[terms.txt line 1]"),
        "{}",
        reply.text()
    );
    let deleted: Value = client
        .delete(&format!("/v2/files/{}", good["id"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(deleted["deleted"], true);
    let store: Value = client
        .get(&format!("/v2/vector_stores/{id}"))
        .await
        .unwrap();
    assert!(
        !store["file_ids"].as_array().unwrap().contains(&good["id"]),
        "{store}"
    );
    let reply = ask(&client, &thread, "How long does the warranty last?").await;
    assert!(
        reply.text().contains("found no passage"),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn the_search_index_is_rebuilt_when_missing_and_survives_a_restart() {
    let server = TestServer::start().await;
    let (_, client) = server.project("rebuild").await;
    let a = client
        .create_assistant(&assistant("a", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    ask(&client, &thread, "Please check the zeppelin booking").await;
    let found = |client: agentdeck::client::Client| async move {
        for _ in 0..100 {
            let hits: Value = client.get("/v2/search?q=zeppelin").await.unwrap();
            if !hits["data"].as_array().unwrap().is_empty() {
                return hits;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("never found");
    };
    let hits = found(client.clone()).await;
    assert_eq!(hits["data"][0]["thread_id"], json!(thread));
    let key = client.key().to_string();
    let dir = server.stop().await;
    std::fs::remove_dir_all(dir.path().join("search").join("messages")).unwrap();
    let server = TestServer::start_in(dir).await;
    let client = agentdeck::client::Client::new(&server.url, &key);
    let hits = found(client).await;
    assert_eq!(
        hits["data"][0]["thread_id"],
        json!(thread),
        "rebuilt from the store"
    );
}

#[tokio::test]
async fn images_reach_the_local_model_downscaled_and_the_message_describes_them() {
    let server = TestServer::start().await;
    let (_, client) = server.project("images").await;
    let key = client.key().to_string();
    let (_, small) = upload(&server.url, &key, None, "small.png", &png(64, 48)).await;
    let (status, big) = upload(&server.url, &key, None, "wide.png", &png(3000, 1000)).await;
    assert_eq!(status, 200, "{big}");
    assert_eq!(big["width"], 3000);
    let a = client
        .create_assistant(&assistant("looker", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let message: agentdeck::model::requests::MessageCreate = serde_json::from_value(json!({
        "role": "user",
        "content": [{"type": "text", "text": "What do you see?"}, {"type": "file", "file_id": big["id"]}],
        "attachments": [{"file_id": small["id"]}]
    }))
    .unwrap();
    let posted = client.post_message(&thread, &message).await.unwrap();
    let described: Vec<(String, Option<u32>)> = posted
        .message
        .files
        .iter()
        .map(|f| (f.filename.clone(), f.width))
        .collect();
    assert_eq!(
        described,
        vec![
            ("small.png".to_string(), Some(64)),
            ("wide.png".to_string(), Some(3000))
        ]
    );
    let reply = wait_reply(
        &client,
        &thread,
        posted.response_message_id.as_deref().unwrap(),
    )
    .await;
    let text = reply.text();
    assert!(
        text.contains("I received 2 images: small.png (image/png, 64\u{d7}48), wide.png (image/png, 2048\u{d7}683)"),
        "{text}"
    );
}

/// A program the PDF producers' test needs, or a loud failure naming how to get it.
fn producer(program: &str) -> std::path::PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!("{program} is required by the PDF producers' test and is not installed; `bash .ci/run` installs it (Debian: ghostscript, groff, python3-cairo, poppler-utils, libreoffice-writer-nogui, chromium)")
    })
}

fn run_producer(command: &mut std::process::Command, what: &str) {
    let out = command
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("{what} could not run: {err}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_lowercase).collect()
}

/// PDFs as real producers make them — LibreOffice, Ghostscript's ps2pdf, Chromium's print
/// to PDF, cairo, reportlab and groff — are read to the same words poppler's `pdftotext`
/// reads from them, and one is found by `file_search` through the API.
#[tokio::test]
async fn pdfs_of_real_producers_read_as_pdftotext_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    let lines = [
        "Master Services Agreement between Acme Corporation and Globex Limited.",
        "Section 9. Limitation of liability. The total liability shall not exceed five million dollars per annum.",
    ];
    std::fs::write(at("contract.txt"), lines.join("\n")).unwrap();
    std::fs::write(
        at("contract.html"),
        format!(
            "<html><body><h1>Contract</h1><p>{}</p><p>{}</p></body></html>",
            lines[0], lines[1]
        ),
    )
    .unwrap();
    std::fs::write(
        at("contract.ps"),
        format!(
            "%!PS\n/Helvetica findfont 11 scalefont setfont\n72 720 moveto ({}) show\n72 700 moveto ({}) show\nshowpage\n",
            lines[0], lines[1]
        ),
    )
    .unwrap();
    let python = std::env::var("TEST_PYTHON").expect(
        "TEST_PYTHON is not set: this test needs the venv `bash .ci/run` installs (reportlab)",
    );
    let mut made: Vec<(&str, std::path::PathBuf)> = Vec::new();
    let soffice = producer("soffice");
    run_producer(
        std::process::Command::new(&soffice)
            .arg(format!(
                "-env:UserInstallation=file://{}",
                at("lo-profile").display()
            ))
            .args(["--headless", "--convert-to", "pdf", "--outdir"])
            .arg(dir.path())
            .arg(at("contract.txt")),
        "LibreOffice",
    );
    made.push(("libreoffice", at("contract.pdf")));
    run_producer(
        std::process::Command::new(producer("ps2pdf"))
            .arg(at("contract.ps"))
            .arg(at("ps2pdf.pdf")),
        "ps2pdf",
    );
    made.push(("ps2pdf", at("ps2pdf.pdf")));
    run_producer(
        std::process::Command::new(producer("chromium"))
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-pdf-header-footer",
            ])
            .arg(format!(
                "--user-data-dir={}",
                at("chromium-profile").display()
            ))
            .arg(format!("--print-to-pdf={}", at("chromium.pdf").display()))
            .arg(format!("file://{}", at("contract.html").display())),
        "Chromium",
    );
    made.push(("chromium", at("chromium.pdf")));
    let cairo = format!(
        "import cairo\ns = cairo.PDFSurface({:?}, 595, 842)\nc = cairo.Context(s)\nc.select_font_face('Sans')\nc.set_font_size(8)\nc.move_to(72, 72)\nc.show_text({:?})\nc.move_to(72, 92)\nc.show_text({:?})\ns.finish()\n",
        at("cairo.pdf").display().to_string(),
        lines[0],
        lines[1]
    );
    run_producer(
        // Debian's own Python, which python3-cairo is installed into.
        std::process::Command::new("/usr/bin/python3")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .args(["-c", &cairo]),
        "cairo (Debian's python3-cairo)",
    );
    made.push(("cairo", at("cairo.pdf")));
    let reportlab = format!(
        "from reportlab.pdfgen import canvas\nc = canvas.Canvas({:?})\nc.drawString(72, 720, {:?})\nc.drawString(72, 700, {:?})\nc.save()\n",
        at("reportlab.pdf").display().to_string(),
        lines[0],
        lines[1]
    );
    run_producer(
        std::process::Command::new(&python).args(["-c", &reportlab]),
        "reportlab",
    );
    made.push(("reportlab", at("reportlab.pdf")));
    let groff_out = std::fs::File::create(at("groff.pdf")).unwrap();
    let mut groff = std::process::Command::new(producer("groff"))
        .args(["-ms", "-Tpdf"])
        .stdin(std::process::Stdio::piped())
        .stdout(groff_out)
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = groff.stdin.take().unwrap();
        writeln!(stdin, ".PP\n{}\n.PP\n{}", lines[0], lines[1]).unwrap();
    }
    assert!(groff.wait().unwrap().success(), "groff -Tpdf failed");
    made.push(("groff", at("groff.pdf")));

    let pdftotext = producer("pdftotext");
    for (who, path) in &made {
        let bytes = std::fs::read(path).unwrap();
        let ours = agentdeck::search::extract::extract("application/pdf", &bytes)
            .unwrap_or_else(|err| panic!("{who}: {err}"));
        let theirs = std::process::Command::new(&pdftotext)
            .arg(path)
            .arg("-")
            .output()
            .unwrap();
        let theirs = String::from_utf8_lossy(&theirs.stdout).into_owned();
        assert_eq!(
            words(&ours.pages.join("\n")),
            words(&theirs),
            "{who}: our text against pdftotext's"
        );
        assert!(
            words(&theirs).contains(&"million".to_string()),
            "{who}: {theirs}"
        );
    }

    // Through the API: the LibreOffice PDF, found by file_search.
    let server = TestServer::start().await;
    let (_, client) = server.project("producers").await;
    let key = client.key().to_string();
    let (status, file) = upload(
        &server.url,
        &key,
        None,
        "contract.pdf",
        &std::fs::read(at("contract.pdf")).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{file}");
    let store: Value = client
        .post(
            "/v2/vector_stores",
            &json!({"name": "producers", "file_ids": [file["id"]]}),
        )
        .await
        .unwrap();
    let store = settled(&client, store["id"].as_str().unwrap(), SETTLE).await;
    assert_eq!(store["files"][0]["status"], "completed", "{store}");
    let reader = client
        .create_assistant(&assistant(
            "reader",
            json!([{"type": "file_search", "vector_store_ids": [store["id"]]}]),
            vec![],
        ))
        .await
        .unwrap();
    let thread = new_thread(&client, &reader.id).await;
    let reply = ask(&client, &thread, "What does the liability clause say?").await;
    assert!(
        reply.text().contains("five million dollars"),
        "{}",
        reply.text()
    );
    server.stop().await;
}
