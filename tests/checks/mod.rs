//! Properties that must hold for any input, one function per untrusted-input parser. The
//! fuzz targets of `fuzz/` call them with libFuzzer's bytes; `tests/it/properties.rs`
//! calls them with proptest's (bounded cases, in `cargo test`). A failing property
//! panics with the input, so a crash found by either is a reproducer for the other.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use agentdeck::providers::ModelEvent;
use agentdeck::providers::anthropic::Anthropic;
use agentdeck::providers::http::WireFormat;
use agentdeck::providers::openai_chat::OpenAiChat;
use agentdeck::providers::openai_responses::OpenAiResponses;
use agentdeck::sse::{SseEvent, SseParser, frame};
use agentdeck::text;

/// Cut points taken from the input itself: each byte of `cuts` is the length of the next
/// piece (0 means 1), so one input explores one chunking, deterministically.
fn pieces<'a>(data: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut cut = cuts.iter().cycle();
    while !rest.is_empty() {
        let len = usize::from(*cut.next().unwrap_or(&0)).clamp(1, rest.len());
        let (piece, tail) = rest.split_at(len);
        out.push(piece);
        rest = tail;
    }
    out
}

/// As [`pieces`], on character boundaries (deltas are whole characters).
fn char_pieces<'a>(text: &'a str, cuts: &[u8]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut cut = cuts.iter().cycle();
    while !rest.is_empty() {
        let mut len = usize::from(*cut.next().unwrap_or(&0)).clamp(1, rest.len());
        while !rest.is_char_boundary(len) {
            len += 1;
        }
        let (piece, tail) = rest.split_at(len);
        out.push(piece);
        rest = tail;
    }
    out
}

fn parse_all(chunks: &[&[u8]]) -> (Vec<SseEvent>, bool) {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    for chunk in chunks {
        parser.feed(chunk, &mut events);
    }
    let pending = parser.finish();
    (events, pending)
}

/// The SSE parser: the same events whatever the chunking; what the server writes with
/// `frame` parses back to itself.
pub fn sse(data: &[u8], cuts: &[u8]) {
    let whole = parse_all(&[data]);
    let chunked = parse_all(&pieces(data, cuts));
    assert_eq!(whole, chunked, "chunking changed the events of {data:?}");
    // Invalid UTF-8 becomes U+FFFD: at most three bytes for one.
    for event in &whole.0 {
        assert!(event.data.len() <= 3 * data.len(), "data grew: {data:?}");
    }

    // A frame of ours: data as the server has it (JSON: no CR inside), any id, any name
    // made of the characters event names use.
    let data_text = String::from_utf8_lossy(data).replace('\r', "");
    let name: String = cuts
        .iter()
        .map(|b| char::from(b"abcdefghijklmnopqrstuvwxyz._"[usize::from(*b) % 28]))
        .take(24)
        .collect();
    let name = if name.is_empty() {
        "message".into()
    } else {
        name
    };
    let id = cuts
        .iter()
        .fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(*b)));
    let wire = frame(id, &name, &data_text);
    let (events, pending) = parse_all(&pieces(&wire, data));
    assert!(!pending, "a whole frame left a partial event: {wire:?}");
    assert_eq!(events.len(), 1, "one frame, one event: {wire:?}");
    let event = &events[0];
    assert_eq!(event.data, data_text);
    assert_eq!(event.event, name);
    assert_eq!(event.own_id, id > 0);
    if id > 0 {
        assert_eq!(event.id.as_deref(), Some(id.to_string().as_str()));
    }
}

/// Text a decoder passes on, in bytes (the bound a hostile stream cannot break).
fn emitted_bytes(events: &[ModelEvent]) -> usize {
    events
        .iter()
        .map(|event| match event {
            ModelEvent::TextDelta(text) | ModelEvent::ReasoningDelta(text) => text.len(),
            ModelEvent::ToolCallStart { id, name, .. } => id.len() + name.len(),
            ModelEvent::ToolCallArguments { delta, .. } => delta.len(),
            _ => 0,
        })
        .sum()
}

/// A provider's stream decoder (`which` picks OpenAI Responses, Chat Completions or
/// Anthropic) on any bytes: no panic, and never more text out than came in. After an
/// error the stream is over, as the provider loop treats it.
pub fn decoder(which: u8, data: &[u8]) {
    let format: Box<dyn WireFormat> = match which % 3 {
        0 => Box::new(OpenAiResponses),
        1 => Box::new(OpenAiChat),
        _ => Box::new(Anthropic),
    };
    let mut decoder = format.decoder();
    let (events, _) = parse_all(&[data]);
    let mut out = Vec::new();
    let mut failed = false;
    for event in &events {
        match decoder.event(event) {
            Ok(mut more) => out.append(&mut more),
            Err(error) => {
                assert!(
                    !error.code.is_empty()
                        && error.code.len() <= 64
                        && error
                            .code
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')),
                    "an error code that is not one: {error:?}"
                );
                assert!(
                    !error.message.trim().is_empty(),
                    "an error without a message"
                );
                failed = true;
                break;
            }
        }
    }
    if !failed && let Ok(mut more) = decoder.end() {
        out.append(&mut more);
    }
    // Invalid UTF-8 may grow threefold as U+FFFD; a decoder may name a tool call that
    // came without an id. Anything past that is text the stream never carried.
    let limit = 3 * data.len() + 64;
    assert!(
        emitted_bytes(&out) <= limit,
        "{} bytes out of {limit} in: {data:?}",
        emitted_bytes(&out)
    );
}

/// The sanitizer: nothing a terminal acts on survives, piece by piece is whole, and a
/// second pass changes nothing.
pub fn sanitize(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    let clean = text::sanitize(&input);
    for c in clean.chars() {
        assert!(c == '\n' || !c.is_control(), "{c:?} survived in {input:?}");
        assert!(
            !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'),
            "bidi control {c:?} survived in {input:?}"
        );
    }
    assert_eq!(text::sanitize(&clean), clean, "not idempotent: {input:?}");
    let by_pieces: String = char_pieces(&input, data)
        .into_iter()
        .map(text::sanitize)
        .collect();
    assert_eq!(by_pieces, clean, "pieces differ from the whole: {input:?}");
    let line = text::one_line(&input);
    assert!(!line.contains('\n'));
    for c in text::for_clipboard(&input).chars() {
        assert!(
            c == '\n' || c == '\t' || !c.is_control(),
            "{c:?} in the clipboard"
        );
    }
}

/// The markdown renderer at any width: no panic; code blocks lie inside what was drawn;
/// no control character reaches a span (the text was sanitized on arrival, as the app
/// does); the streaming collector holds what it was fed and settles inside it.
pub fn markdown(width: u8, data: &[u8]) {
    use agentdeck::tui::highlight::Highlighter;
    use agentdeck::tui::markdown::{StreamingText, code_blocks, render};
    use agentdeck::tui::theme::Theme;

    let input = String::from_utf8_lossy(data);
    let mut streaming = StreamingText::default();
    for piece in char_pieces(&input, &[7, 1, 13, 2]) {
        streaming.push(piece);
    }
    let text = streaming.text().to_string();
    assert_eq!(
        text,
        text::sanitize(&input),
        "deltas sanitized unlike the whole"
    );
    assert!(streaming.settled() <= text.len() && text.is_char_boundary(streaming.settled()));
    let theme = Theme::default_theme();
    let mut lines = Vec::new();
    let width = usize::from(width % 120);
    let blocks = render(&text, width, &theme, &mut Highlighter::plain(), &mut lines);
    for block in &blocks {
        assert!(block.first_line <= block.last_line && block.last_line < lines.len().max(1));
    }
    for line in &lines {
        for span in &line.spans {
            assert!(
                !span.content.chars().any(char::is_control),
                "a control character drawn from {input:?}"
            );
        }
    }
    let _ = code_blocks(&text);
}

/// The thread filter: never panics, and a filter of two halves is their conjunction.
pub fn filter(data: &[u8]) {
    use agentdeck::model::Thread;
    use agentdeck::tui::filter::Filter;

    let input = String::from_utf8_lossy(data);
    let mut middle = input.len() / 2;
    while !input.is_char_boundary(middle) {
        middle -= 1;
    }
    let (left, right) = input.split_at(middle);
    let thread: Thread = serde_json::from_value(serde_json::json!({
        "id": "thread_Ab1", "object": "thread", "project_id": "proj_1",
        "assistant_id": "asst_X", "created_at": 1, "updated_at": 2,
        "status": "requires_action", "metadata": {"Priority": "High"},
        "title": "Refund for order 1842", "parent_thread_id": null
    }))
    .unwrap();
    let whole = Filter::parse(&format!("{left} {right}"));
    let both = Filter::parse(left).matches_in(&thread, "Legal Desk", "prod")
        && Filter::parse(right).matches_in(&thread, "Legal Desk", "prod");
    assert_eq!(
        whole.matches_in(&thread, "Legal Desk", "prod"),
        both,
        "{left:?} + {right:?}"
    );
    assert_eq!(whole.is_empty(), input.split_whitespace().next().is_none());
}

/// The routes that take a JSON body, with the ids of things that exist filled in.
const BODY_ROUTES: &[(&str, &str)] = &[
    ("POST", "/v2/projects"),
    ("PATCH", "/v2/projects/{project}"),
    ("POST", "/v2/projects/{project}/keys"),
    ("POST", "/v2/assistants"),
    ("PATCH", "/v2/assistants/{assistant}"),
    ("POST", "/v2/vector_stores"),
    ("POST", "/v2/vector_stores/{store}/files"),
    ("POST", "/v2/threads"),
    ("PATCH", "/v2/threads/{thread}"),
    ("POST", "/v2/threads/{thread}/messages"),
    ("POST", "/v2/threads/{thread}/tool_calls/call_x/approve"),
    ("POST", "/v2/threads/{thread}/tool_calls/call_x/deny"),
];

/// A real server (the local model unpaced) on a loopback port with one of everything a
/// body may name, and a client of it.
pub struct Api {
    pub tokio: tokio::runtime::Runtime,
    runtime: Option<agentdeck::runtime::Runtime>,
    http: reqwest::Client,
    base: String,
    admin_key: String,
    ids: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

impl Api {
    pub fn start() -> Api {
        use agentdeck::client::Client;
        use agentdeck::model::requests::{AssistantCreate, ProjectCreate, ThreadCreate};
        use agentdeck::runtime::{Runtime, RuntimeOptions};

        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (runtime, ids) = tokio.block_on(async {
            let runtime = Runtime::start(RuntimeOptions {
                engine: agentdeck::engine::EngineOptions {
                    local_tps: 0.0,
                    ..Default::default()
                },
                ..RuntimeOptions::new(dir.path().to_path_buf(), Default::default())
            })
            .await
            .unwrap();
            let admin = Client::new(&runtime.url(), runtime.admin_key());
            let project = admin
                .create_project(&ProjectCreate {
                    name: "fuzz".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            let client = admin.with_project(Some(project.id.clone()));
            let assistant = client
                .create_assistant(
                    &serde_json::from_value::<AssistantCreate>(
                        serde_json::json!({"name": "target", "model": "local"}),
                    )
                    .unwrap(),
                )
                .await
                .unwrap();
            let thread = client
                .create_thread(&ThreadCreate {
                    assistant_id: assistant.id.clone(),
                    ..Default::default()
                })
                .await
                .unwrap();
            let store: serde_json::Value = reqwest::Client::new()
                .post(format!("{}/v2/vector_stores", runtime.url()))
                .bearer_auth(runtime.admin_key())
                .header("openai-project", &project.id)
                .json(&serde_json::json!({"name": "docs"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let store = store["id"].as_str().unwrap().to_string();
            let ids = vec![
                ("{project}", project.id),
                ("{assistant}", assistant.id),
                ("{thread}", thread.id),
                ("{store}", store),
            ];
            (runtime, ids)
        });
        Api {
            http: reqwest::Client::new(),
            base: runtime.url(),
            admin_key: runtime.admin_key().to_string(),
            runtime: Some(runtime),
            ids,
            tokio,
            _dir: dir,
        }
    }

    /// Sends `body` to one of the routes that take JSON: the server answers 2xx with JSON
    /// or 4xx with the JSON error shape, never 5xx, and keeps answering.
    pub fn body(&self, route: u8, body: &[u8]) {
        let (method, template) = BODY_ROUTES[usize::from(route) % BODY_ROUTES.len()];
        let mut path = template.to_string();
        for (name, id) in &self.ids {
            path = path.replace(name, id);
        }
        let mut body = body.to_vec();
        if let Ok(text) = std::str::from_utf8(&body) {
            let mut filled = text.to_string();
            for (name, id) in &self.ids {
                filled = filled.replace(name, id);
            }
            body = filled.into_bytes();
        }
        let project = &self.ids[0].1;
        let (status, text) = self.tokio.block_on(async {
            let response = self
                .http
                .request(method.parse().unwrap(), format!("{}{path}", self.base))
                .bearer_auth(&self.admin_key)
                .header("openai-project", project)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.text().await.unwrap())
        });
        let shown = String::from_utf8_lossy(&body);
        assert!(
            status.is_success() || status.is_client_error(),
            "{method} {template} answered {status} to {shown:?}: {text}"
        );
        let json: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {template}: not JSON: {text}"));
        if status.is_client_error() {
            let message = json["error"]["message"].as_str().unwrap_or("");
            let kind = json["error"]["type"].as_str().unwrap_or("");
            assert!(
                !message.is_empty() && !kind.is_empty(),
                "{method} {template} {status}: no error shape: {text}"
            );
        }
    }

    pub fn stop(mut self) {
        if let Some(runtime) = self.runtime.take() {
            self.tokio.block_on(runtime.stop());
        }
    }
}
