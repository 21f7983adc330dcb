//! Requests hyper would refuse with an empty answer get the API's JSON error instead.
//!
//! - The head of a connection's first request is read before hyper sees it and judged: a
//!   request line that is not HTTP, a target of 100,000 characters, a header name that is
//!   no token, a `Content-Length` that is no number, more headers than hyper takes or a
//!   head too large each get a JSON error saying which. What was read is handed on
//!   untouched, so hyper parses the request as if nothing had happened.
//! - Hyper's own automatic answers to a head it cannot parse (later requests on a kept-
//!   alive connection) are empty `400`, `414` and `431`s; they are rewritten on their way
//!   out into the same JSON shape (no route of the API answers those codes empty).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The longest request target served; longer is `414`.
pub const MAX_TARGET: usize = 8 * 1024;
/// Headers a request may have (hyper's own limit).
pub const MAX_HEADERS: usize = 100;
/// Bytes a request's head may take, request line and headers (hyper's buffer holds more,
/// but no client of the API needs so much).
pub const MAX_HEAD: usize = 64 * 1024;

/// A stream with bytes already read put back in front of it, whose writes have hyper's
/// empty error answers replaced with JSON ones.
pub struct Rewound<S> {
    read: Vec<u8>,
    at: usize,
    inner: S,
    /// A replacement answer still being written (the bytes of hyper's were taken).
    pending: Vec<u8>,
    sent: usize,
}

impl<S> Rewound<S> {
    fn new(read: Vec<u8>, inner: S) -> Self {
        Rewound {
            read,
            at: 0,
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewound<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.at < self.read.len() {
            let n = buf.remaining().min(self.read.len() - self.at);
            let at = self.at;
            buf.put_slice(&self.read[at..at + n]);
            self.at += n;
            if self.at == self.read.len() {
                self.read = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> Rewound<S> {
    /// Writes what is left of a replacement answer; ready when all of it is out.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = match Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

/// Hyper's automatic answer to a head it could not parse, if `bytes` is one: its status.
fn hyper_error_answer(bytes: &[u8]) -> Option<u16> {
    let status = [
        (&b"HTTP/1.1 400 "[..], 400),
        (&b"HTTP/1.1 414 "[..], 414),
        (&b"HTTP/1.1 431 "[..], 431),
    ]
    .into_iter()
    .find(|(line, _)| bytes.starts_with(line))?
    .1;
    let empty = bytes
        .windows(b"\r\ncontent-length: 0\r\n".len())
        .any(|w| w.eq_ignore_ascii_case(b"\r\ncontent-length: 0\r\n"));
    (empty && bytes.ends_with(b"\r\n\r\n")).then_some(status)
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewound<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.poll_pending(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            Poll::Pending => return Poll::Pending,
        }
        if let Some(status) = hyper_error_answer(buf) {
            let (code, message) = match status {
                414 => (
                    "uri_too_long",
                    format!("The request target is longer than {MAX_TARGET} bytes."),
                ),
                431 => (
                    "headers_too_large",
                    format!(
                        "The request's headers are too many or too large (at most {MAX_HEADERS} headers, {} KiB).",
                        MAX_HEAD / 1024
                    ),
                ),
                _ => (
                    "bad_request_head",
                    "The request's head is not valid HTTP/1.1 (its line, a header name or a length).".to_string(),
                ),
            };
            self.pending = json_answer(status, code, &message).into_bytes();
            self.sent = 0;
            // Hyper's bytes count as written: ours go in their place.
            let _ = self.poll_pending(cx);
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    // Passed on as they are (hyper writes a response's head and body in one vectored
    // write), but for an error answer of hyper's own, which is one plain head.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let first = bufs.iter().find(|b| !b.is_empty());
        if !self.pending.is_empty() || first.is_some_and(|b| hyper_error_answer(b).is_some()) {
            return match first {
                Some(first) => self.poll_write(cx, first),
                None => Poll::Ready(Ok(0)),
            };
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.poll_pending(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.poll_pending(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

/// A whole HTTP/1.1 answer with the API's error body; the connection closes after it.
pub fn json_answer(status: u16, code: &str, message: &str) -> String {
    let (kind, reason) = match status {
        400 => ("invalid_request_error", "Bad Request"),
        414 => ("invalid_request_error", "URI Too Long"),
        431 => ("invalid_request_error", "Request Header Fields Too Large"),
        503 => ("server_error", "Service Unavailable"),
        _ => ("invalid_request_error", "Error"),
    };
    let body = serde_json::json!({"error": {"message": message,
        "type": kind, "code": code, "param": null}})
    .to_string();
    let retry = if status == 503 {
        "retry-after: 1\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{retry}connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// What is wrong with a request line, if anything: (status, code, message).
fn judge_line(line: &[u8]) -> Option<(u16, &'static str, String)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|b| *b == b' ');
    let (method, target, version) = (parts.next()?, parts.next(), parts.next());
    let bad = |why: &str| {
        Some((
            400,
            "bad_request_line",
            format!("The request line is not HTTP: {why}."),
        ))
    };
    let Some(target) = target else {
        return bad("no request target");
    };
    if target.len() > MAX_TARGET {
        return Some((
            414,
            "uri_too_long",
            format!(
                "The request target is {} bytes; the most is {MAX_TARGET}.",
                target.len()
            ),
        ));
    }
    if method.is_empty() || !method.iter().all(u8::is_ascii_alphabetic) {
        return bad("the method is not a word");
    }
    if !target.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return bad("the target has bytes that are not visible ASCII (percent-encode them)");
    }
    if !version.is_some_and(|v| v.starts_with(b"HTTP/")) || parts.next().is_some() {
        return bad("it does not end in an HTTP version");
    }
    None
}

/// What is wrong with the header lines of a head (after its request line), if anything.
fn judge_headers(lines: &[u8]) -> Option<(u16, &'static str, String)> {
    let mut count = 0usize;
    let mut lengths: Vec<&[u8]> = Vec::new();
    for line in lines.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        count += 1;
        if count > MAX_HEADERS {
            let total = lines
                .split(|b| *b == b'\n')
                .take_while(|l| !l.is_empty() && *l != b"\r")
                .count();
            return Some((
                431,
                "too_many_headers",
                format!("The request has {total} headers; the most is {MAX_HEADERS}."),
            ));
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            return Some((
                400,
                "bad_header",
                format!("Header line {count} has no ':' (a header is NAME: VALUE)."),
            ));
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
        if name.is_empty() || !name.iter().all(token) {
            return Some((
                400,
                "bad_header",
                format!(
                    "Header {:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only, no spaces).",
                    String::from_utf8_lossy(name)
                        .chars()
                        .take(64)
                        .collect::<String>()
                ),
            ));
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            lengths.push(value.trim_ascii());
        }
    }
    for length in &lengths {
        if length.is_empty() || !length.iter().all(u8::is_ascii_digit) || length.len() > 19 {
            return Some((
                400,
                "bad_content_length",
                format!(
                    "Content-Length {:?} is not a number of bytes.",
                    String::from_utf8_lossy(length)
                        .chars()
                        .take(32)
                        .collect::<String>()
                ),
            ));
        }
    }
    if lengths.windows(2).any(|w| w[0] != w[1]) {
        return Some((
            400,
            "bad_content_length",
            "The request has two different Content-Length headers.".into(),
        ));
    }
    None
}

/// Reads the head of a connection's first request. `Some` is the stream to serve (with
/// what was read put back); `None` when the client went away, stayed silent past
/// `timeout`, or sent a head that was answered here with a JSON error.
/// What an HTTP/2 client sends first on a cleartext connection.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub async fn screen<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    timeout: Duration,
) -> Option<Rewound<S>> {
    let mut read = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + timeout;
    let mut line_checked = false;
    let verdict = loop {
        // HTTP/2 in cleartext (gRPC's OTLP exporters) opens with its preface, not a
        // request line: hyper bounds its frames and header lists itself.
        let preface_so_far = &H2_PREFACE[..read.len().min(H2_PREFACE.len())];
        if !read.is_empty() && read.starts_with(preface_so_far) {
            if read.len() >= H2_PREFACE.len() {
                break None;
            }
        } else if !line_checked {
            if let Some(end) = read.iter().position(|b| *b == b'\n') {
                line_checked = true;
                if let Some(verdict) = judge_line(&read[..end]) {
                    break Some(verdict);
                }
            } else if read.len() > MAX_TARGET + 64 {
                break judge_line(&read).or_else(|| {
                    Some((
                        400,
                        "bad_request_line",
                        "The request line has no end.".into(),
                    ))
                });
            }
        }
        if line_checked {
            let start = read.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
            let headers = &read[start..];
            let ended = headers.starts_with(b"\r\n")
                || headers.starts_with(b"\n")
                || headers.windows(4).any(|w| w == b"\r\n\r\n")
                || headers.windows(2).any(|w| w == b"\n\n");
            if ended {
                break judge_headers(headers);
            }
            if read.len() > MAX_HEAD {
                break judge_headers(headers).or_else(|| {
                    Some((
                        431,
                        "headers_too_large",
                        format!(
                            "The request's head is over {} KiB; the most is {} KiB.",
                            read.len() / 1024,
                            MAX_HEAD / 1024
                        ),
                    ))
                });
            }
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => read.extend_from_slice(&chunk[..n]),
        }
    };
    match verdict {
        None => Some(Rewound::new(read, stream)),
        Some((status, code, message)) => {
            let _ = stream
                .write_all(json_answer(status, code, &message).as_bytes())
                .await;
            let _ = stream.shutdown().await;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_lines_are_judged() {
        assert!(super::judge_line(b"GET /v2/threads?limit=5 HTTP/1.1\r").is_none());
        assert!(super::judge_line(b"POST /v2/projects HTTP/1.1").is_none());
        let (status, ..) = super::judge_line(b"GET /v2/threads/\xff HTTP/1.1\r").unwrap();
        assert_eq!(status, 400);
        let long = format!("GET /v2/threads/{} HTTP/1.1", "x".repeat(100_000));
        assert_eq!(super::judge_line(long.as_bytes()).unwrap().0, 414);
        assert!(
            super::judge_line(b"\x16\x03\x01 garbage").is_some(),
            "TLS to a plain port"
        );
        assert!(super::judge_line(b"GET").is_some());
    }

    #[test]
    fn headers_are_judged() {
        assert!(super::judge_headers(b"Host: x\r\nContent-Length: 12\r\n\r\n").is_none());
        assert_eq!(
            super::judge_headers(b"Content-Length: -1\r\n\r\n")
                .unwrap()
                .1,
            "bad_content_length"
        );
        assert_eq!(
            super::judge_headers(b"Content-Length: 5\r\ncontent-length: 6\r\n\r\n")
                .unwrap()
                .1,
            "bad_content_length"
        );
        assert_eq!(
            super::judge_headers(b"Bad Name: x\r\n\r\n").unwrap().1,
            "bad_header"
        );
        let many: String = (0..1000).map(|i| format!("X-{i}: y\r\n")).collect();
        let (status, _, message) = super::judge_headers(format!("{many}\r\n").as_bytes()).unwrap();
        assert_eq!(status, 431);
        assert!(message.contains("1000 headers"), "{message}");
    }

    #[test]
    fn hyper_s_own_error_answers_are_recognised() {
        assert_eq!(
            super::hyper_error_answer(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Sun, 06 Dec 2026 10:00:00 GMT\r\n\r\n"
            ),
            Some(400)
        );
        assert_eq!(
            super::hyper_error_answer(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n"
            ),
            None
        );
    }
}
