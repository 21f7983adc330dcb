//! A scripted model provider on loopback: each request gets the next scripted answer.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Bytes per chunk; 0 sends the body whole.
    pub chunk: usize,
    /// After the body, break the connection instead of ending cleanly.
    pub cut: bool,
    /// After the body, send nothing more, forever.
    pub stall: bool,
}

impl Answer {
    pub fn sse(body: impl Into<Vec<u8>>) -> Answer {
        Answer {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: body.into(),
            chunk: 0,
            cut: false,
            stall: false,
        }
    }

    pub fn fixture(name: &str) -> Answer {
        Answer::sse(fixture(name))
    }

    pub fn error(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
            chunk: 0,
            cut: false,
            stall: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn chunked(mut self, size: usize) -> Answer {
        self.chunk = size;
        self
    }

    pub fn crlf(mut self) -> Answer {
        let text = String::from_utf8(self.body)
            .unwrap()
            .replace("\r\n", "\n")
            .replace('\n', "\r\n");
        self.body = text.into_bytes();
        self
    }

    /// Keeps the first `len` bytes, then breaks the connection.
    pub fn cut_at(mut self, len: usize) -> Answer {
        self.body.truncate(len);
        self.cut = true;
        self
    }

    pub fn stall_after(mut self, len: usize) -> Answer {
        self.body.truncate(len);
        self.stall = true;
        self
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sse")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("fixture {}: {err}", path.display()))
}

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub at: Instant,
}

#[derive(Clone, Default)]
struct Shared {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

pub struct FakeProvider {
    pub url: String,
    shared: Shared,
    _server: tokio::task::JoinHandle<()>,
}

async fn answer(
    State(shared): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.received.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    });
    let Some(answer) = shared.answers.lock().unwrap().pop_front() else {
        return Response::builder()
            .status(599)
            .body(Body::from("no scripted answer left"))
            .unwrap();
    };
    let chunks: Vec<Result<Bytes, std::io::Error>> = if answer.chunk == 0 {
        vec![Ok(Bytes::from(answer.body.clone()))]
    } else {
        answer
            .body
            .chunks(answer.chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect()
    };
    let cut = answer.cut;
    // The break comes a moment after the bytes, so that they really reach the client.
    let tail = futures::stream::once(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        Err(std::io::Error::other("cut"))
    })
    .filter(move |_| futures::future::ready(cut));
    let stream = futures::stream::iter(chunks).chain(tail);
    let body = if answer.stall {
        Body::from_stream(stream.chain(futures::stream::pending()))
    } else {
        Body::from_stream(stream)
    };
    let mut response = Response::builder().status(StatusCode::from_u16(answer.status).unwrap());
    for (name, value) in &answer.headers {
        response = response.header(name, value);
    }
    response.body(body).unwrap()
}

impl FakeProvider {
    pub async fn start(answers: Vec<Answer>) -> FakeProvider {
        let shared = Shared::default();
        shared.answers.lock().unwrap().extend(answers);
        let app = axum::Router::new()
            .fallback(axum::routing::post(answer))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeProvider {
            url,
            shared,
            _server: server,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }
}
